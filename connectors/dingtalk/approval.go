package dingtalk

import (
	"context"
	"errors"
	"regexp"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// ApprovalConnector is the DINGTALK_APPROVAL target kind: a new ticket
// starts an approval instance (OA审批) from a template whose form has the
// text fields 工单, 标题 and 详情.
//
//	POST {api}/v1.0/workflow/processInstances
//	     {originatorUserId, processCode, formComponentValues:[{name:"工单", value: TicketRef},
//	      {name:"标题", value: Title}, {name:"详情", value: Text}]}
//	→ {instanceId}; ExternalID = instanceId
//
// Only "ticket.created" starts one; other events are accepted without a
// call (DeliverResult{}).
//
// Duplicates: processInstances takes no idempotency key, so when the
// answer is lost after DingTalk started the instance, the dispatcher's
// retry starts a second one. Looking for an existing instance first
// (listing the template's instances and matching the 工单 field) would
// narrow the window but not close it, and needs another permission; it is
// not done. A duplicate shows as two approvals for one ticket, which the
// approvers can withdraw.
//
// The token is the new one, cached per app and shared as for to-dos.
func ApprovalConnector() connectors.TargetConnector {
	tokens := newTokenCache()
	return connectors.TargetConnector{Spec: approvalSpec, New: func(cfg connectors.Config) (connectors.Target, error) {
		return newApproval(cfg, tokens)
	}}
}

var processCodePattern = regexp.MustCompile(`^PROC-[A-Za-z0-9_-]{1,128}$`)

// Names of the template's form fields.
const (
	FormFieldTicket = "工单"
	FormFieldTitle  = "标题"
	FormFieldDetail = "详情"
)

var approvalSpec = connectors.TargetSpec{
	Kind:  models.TargetDingTalkApproval,
	Label: "DingTalk approval (钉钉审批)",
	Fields: []connectors.Field{
		appKeyField,
		appSecretField,
		{Name: "processCode", Label: "processCode of the approval template (PROC-…)", Required: true,
			Validate: matches(processCodePattern, "the template's processCode, which starts with PROC-")},
		{Name: "originatorUserId", Label: "userId of the staff member who starts the approvals", Required: true,
			Validate: matches(idPattern, "a userId")},
	},
	Setup: "在钉钉 OA 审批后台创建审批模板，表单包含三个单行/多行文本控件：工单、标题、详情；在模板的 URL 中复制 processCode。" +
		"在开发者后台创建企业内部应用，复制 AppKey 和 AppSecret，并开通审批实例写权限。originatorUserId 是发起人的 userId。 / " +
		"In DingTalk's OA approval admin, create a template whose form has the text fields 工单, 标题 and 详情 and copy its " +
		"processCode; create an internal app with the approval-instance write permission and copy its AppKey and AppSecret. " +
		"Each new ticket starts one approval; DingTalk does not deduplicate them, so a retry after a lost answer may start two.",
}

type approval struct {
	app
	processCode, originator string
}

var _ connectors.Target = (*approval)(nil)

// NewApproval builds a DINGTALK_APPROVAL target with a token cache of its
// own; targets built through ApprovalConnector share one.
func NewApproval(cfg connectors.Config) (connectors.Target, error) {
	return newApproval(cfg, newTokenCache())
}

func newApproval(cfg connectors.Config, tokens *tokenCache) (*approval, error) {
	a, err := newApp(cfg, newToken, tokens)
	if err != nil {
		return nil, err
	}
	ap := &approval{app: a, processCode: cfg.Settings["processCode"], originator: cfg.Settings["originatorUserId"]}
	if ap.processCode == "" || ap.originator == "" {
		return nil, errors.New("dingtalk: processCode and originatorUserId are required")
	}
	return ap, nil
}

type formValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type processInstanceRequest struct {
	OriginatorUserID    string      `json:"originatorUserId"`
	ProcessCode         string      `json:"processCode"`
	FormComponentValues []formValue `json:"formComponentValues"`
}

// Deliver starts the ticket's approval on ticket.created and ignores other
// events.
func (ap *approval) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	if wo.Event != EventTicketCreated {
		return connectors.DeliverResult{}, nil
	}
	title, text, err := markdown(wo)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	req := processInstanceRequest{OriginatorUserID: ap.originator, ProcessCode: ap.processCode,
		FormComponentValues: []formValue{
			{Name: FormFieldTicket, Value: wo.TicketRef},
			{Name: FormFieldTitle, Value: title},
			{Name: FormFieldDetail, Value: text},
		}}
	var out struct {
		InstanceID string `json:"instanceId"`
	}
	if err := ap.postNew(ctx, "processInstances", pathProcessInstance, nil, req, &out); err != nil {
		return connectors.DeliverResult{}, err
	}
	if out.InstanceID == "" {
		return connectors.DeliverResult{}, &connectors.RetryableError{Err: errors.New("dingtalk: processInstances: answer without instanceId")}
	}
	return connectors.DeliverResult{ExternalID: out.InstanceID}, nil
}

// Test fetches a token, which proves the appKey and appSecret. It starts
// nothing.
func (ap *approval) Test(ctx context.Context) error {
	_, err := ap.accessToken(ctx)
	return testError(err)
}
