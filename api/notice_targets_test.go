package api_test

import (
	"strings"
	"testing"
	"time"
)

// TestNoticeTargets: work notices in DingTalk and posts by a WeCom group
// robot, each after an expired token or a first failure, arrive once.
func TestNoticeTargets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		const robotKey = "693a91f6-7a1b-4bc4-97a0-0ec2a1fa5aaa"
		e.wecomWork.AddRobotKey(robotKey)
		for kind, settings := range map[string]map[string]any{
			"DINGTALK_WORK_NOTICE": {"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret, "agentId": "2001", "userIds": "manager01,manager02"},
			"WECOM_ROBOT":          {"key": robotKey},
		} {
			d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"kind": kind, "name": kind, "settings": settings}})
			e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": kind, "targetId": str(d, "createTarget", "target", "id"), "events": []string{"TICKET_CREATED"},
					"template": "新工单 {{.Ticket.Reference}}：{{.Ticket.Title}}（{{.Ticket.Priority}}）"}})
		}
		e.dingtalkWork.ExpireTokens()
		e.createTicket(e.adminA, "门店断货", map[string]any{"priority": "HIGH"})
		deadline := time.Now().Add(15 * time.Second)
		for len(e.dingtalkWork.WorkNotices()) == 0 || len(e.wecomWork.RobotMessages()) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("notices: dingtalk %+v, wecom robot %+v", e.dingtalkWork.WorkNotices(), e.wecomWork.RobotMessages())
			}
			time.Sleep(20 * time.Millisecond)
		}
		n := e.dingtalkWork.WorkNotices()[0]
		if len(n.UserIDs) != 2 || !strings.Contains(n.Text, "新工单 T-1001：门店断货（HIGH）") {
			t.Errorf("work notice: %+v", n)
		}
		r := e.wecomWork.RobotMessages()[0]
		if !strings.Contains(r.Content, "新工单 T-1001：门店断货（HIGH）") {
			t.Errorf("robot post: %+v", r)
		}
		// Once both deliveries are SENT nothing retries them.
		for {
			d := e.must(e.adminA, `{ deliveries(filter: {status: "SENT"}) { totalCount } }`, nil)
			if get(d, "deliveries", "totalCount") == float64(2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries not SENT: %v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(e.dingtalkWork.WorkNotices()) != 1 || len(e.wecomWork.RobotMessages()) != 1 {
			t.Errorf("notices repeated: %d work notices, %d robot posts", len(e.dingtalkWork.WorkNotices()), len(e.wecomWork.RobotMessages()))
		}
	})
}
