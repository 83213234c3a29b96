package wecomwork

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wecomwork/wecomworkfake"
)

func TestParseApprovalChange(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		comment     string
		want        ApprovalStatus
		wantComment string
		wantBy      string
		wantEvent   int
	}{
		{name: "pending", status: 1, want: ApprovalPending, wantEvent: 1},
		{name: "pending with a remark", status: 1, comment: "请尽快处理", want: ApprovalPending, wantComment: "请尽快处理", wantBy: "WangWu", wantEvent: 10},
		{name: "approved", status: 2, comment: "同意退款", want: ApprovalApproved, wantComment: "同意退款", wantBy: wecomworkfake.SecondApprover, wantEvent: 2},
		{name: "approved without a word", status: 2, want: ApprovalApproved, wantBy: wecomworkfake.SecondApprover, wantEvent: 2},
		{name: "rejected at the first of two nodes", status: 3, comment: "证据不足 <b>&</b>", want: ApprovalRejected,
			wantComment: "证据不足 <b>&</b>", wantBy: wecomworkfake.FirstApprover, wantEvent: 3},
		{name: "withdrawn", status: 4, want: ApprovalWithdrawn, wantEvent: 6},
		{name: "withdrawn after approval", status: 6, comment: "撤回重提", want: ApprovalWithdrawnAfterApproval, wantComment: "撤回重提",
			wantBy: wecomworkfake.SecondApprover, wantEvent: 8},
		{name: "deleted", status: 7, want: ApprovalDeleted, wantBy: wecomworkfake.SecondApprover},
		{name: "paid", status: 10, comment: "已付款 ]]> 结束", want: ApprovalPaid, wantComment: "已付款 ]]> 结束", wantBy: wecomworkfake.SecondApprover},
	}
	r := newRig(t)
	tg := r.newTarget(t, ApprovalConnector(), approvalSettings())
	res, err := tg.Deliver(t.Context(), workOrder("ticket.created"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := r.fake.ApprovalChangeXML(res.ExternalID, tc.status, tc.comment)
			ch, err := ParseApprovalChange(raw)
			if err != nil {
				t.Fatalf("ParseApprovalChange: %v\n%s", err, raw)
			}
			if ch.SpNo != res.ExternalID || ch.Status != tc.want || !ch.Status.Known() {
				t.Errorf("sp_no %q status %v, want %q %v", ch.SpNo, ch.Status, res.ExternalID, tc.want)
			}
			if ch.Comment != tc.wantComment || ch.CommentBy != tc.wantBy && tc.wantBy != "" || ch.ChangeEvent != tc.wantEvent {
				t.Errorf("comment %q by %q, event %d; want %q by %q, event %d", ch.Comment, ch.CommentBy, ch.ChangeEvent, tc.wantComment, tc.wantBy, tc.wantEvent)
			}
			if ch.CorpID != corpID || ch.TemplateID != approvalSettings()["templateId"] || ch.Applicant != "WangWu" ||
				!ch.ApplyTime.Equal(r.clock.Now().Truncate(time.Second)) {
				t.Errorf("change %+v", ch)
			}
		})
	}
}

// WeCom's documented sample, multi-detail node, CDATA everywhere.
const docSample = `<xml>
 <ToUserName><![CDATA[ww1cSD21f1f9f4Fb1c]]></ToUserName>
 <FromUserName><![CDATA[sys]]></FromUserName>
 <CreateTime>1571732272</CreateTime>
 <MsgType><![CDATA[event]]></MsgType>
 <Event><![CDATA[sys_approval_change]]></Event>
 <AgentID>3010040</AgentID>
 <ApprovalInfo>
  <SpNo>201910220003</SpNo>
  <SpName><![CDATA[示例模板]]></SpName>
  <SpStatus>2</SpStatus>
  <TemplateId><![CDATA[3TkZjxugodbqpEMk9j7X6h6zKqYPVLK1Xj8Vvs5A]]></TemplateId>
  <ApplyTime>1571728713</ApplyTime>
  <Applyer><UserId><![CDATA[xiaoming]]></UserId><Party><![CDATA[1]]></Party></Applyer>
  <SpRecord>
   <SpStatus>2</SpStatus>
   <ApproverAttr>2</ApproverAttr>
   <Details><Approver><UserId><![CDATA[a]]></UserId></Approver><Speech><![CDATA[早]]></Speech><SpStatus>2</SpStatus><SpTime>1571732000</SpTime></Details>
   <Details><Approver><UserId><![CDATA[b]]></UserId></Approver><Speech><![CDATA[ 可以 ]]></Speech><SpStatus>2</SpStatus><SpTime>1571732272</SpTime></Details>
  </SpRecord>
  <Notifyer><UserId><![CDATA[c]]></UserId></Notifyer>
  <Comments>
   <CommentUserInfo><UserId><![CDATA[xiaoming]]></UserId></CommentUserInfo>
   <CommentTime>1571732100</CommentTime>
   <CommentContent><![CDATA[备注]]></CommentContent>
   <CommentId><![CDATA[6750538708562529032]]></CommentId>
  </Comments>
  <StatuChangeEvent>2</StatuChangeEvent>
 </ApprovalInfo>
</xml>`

func TestParseApprovalChangeSample(t *testing.T) {
	ch, err := ParseApprovalChange([]byte(docSample))
	if err != nil {
		t.Fatal(err)
	}
	want := ApprovalChange{CorpID: "ww1cSD21f1f9f4Fb1c", AgentID: "3010040", SpNo: "201910220003", SpName: "示例模板",
		TemplateID: "3TkZjxugodbqpEMk9j7X6h6zKqYPVLK1Xj8Vvs5A", Status: ApprovalApproved, ChangeEvent: 2, Applicant: "xiaoming",
		ApplyTime: time.Unix(1571728713, 0).UTC(), Comment: "可以", CommentBy: "b"}
	if *ch != want {
		t.Errorf("got  %+v\nwant %+v", *ch, want)
	}
}

func TestParseApprovalChangeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not XML", "{}"},
		{"another event", strings.Replace(docSample, "sys_approval_change", "change_contact", 1)},
		{"no SpNo", strings.Replace(docSample, "<SpNo>201910220003</SpNo>", "", 1)},
		{"status not a number", strings.Replace(docSample, "<SpStatus>2</SpStatus>\n  <TemplateId>", "<SpStatus>ok</SpStatus>\n  <TemplateId>", 1)},
		{"truncated", docSample[:200]},
		{"too large", "<xml>" + strings.Repeat(" ", 1<<20) + "</xml>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseApprovalChange([]byte(tc.in))
			var bad *connectors.BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("ParseApprovalChange: %v, want a BadRequestError", err)
			}
		})
	}
	ch, err := ParseApprovalChange([]byte(strings.Replace(docSample, "<SpStatus>2</SpStatus>\n  <TemplateId>", "<SpStatus>11</SpStatus>\n  <TemplateId>", 1)))
	if err != nil || ch.Status != 11 || ch.Status.Known() || ch.Status.String() != "status 11" {
		t.Errorf("unknown status: %+v, %v", ch, err)
	}
}
