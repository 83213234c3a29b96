package wecomwork

import (
	"context"
	"errors"
	"fmt"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// Template controls the approval fills. The template (审批模板, set up by
// the admin) must have them with these ids.
const (
	ControlTicket = "Text-ticket"     // Text: the ticket's reference
	ControlDetail = "Textarea-detail" // Textarea: the work order's text
)

// maxSummary is how many characters of the title the summary line keeps
// (the summary shows in approval cards and lists; it is meant to be short).
const maxSummary = 20

// appliedEvent is the event that creates an approval; other events are
// not delivered to WECOM_APPROVAL targets.
var appliedEvent = models.TicketCreated.WireName() // "ticket.created"

// ApprovalConnector is the WECOM_APPROVAL target kind. Its targets share
// one access-token cache.
func ApprovalConnector() connectors.TargetConnector {
	tokens := newTokenCache()
	return connectors.TargetConnector{Spec: approvalSpec, New: func(cfg connectors.Config) (connectors.Target, error) {
		return newApprovalTarget(cfg, tokens)
	}}
}

var approvalSpec = connectors.TargetSpec{
	Kind:  models.TargetWeComApproval,
	Label: "WeCom approval (企业微信审批)",
	Fields: []connectors.Field{
		{Name: "corpId", Label: "企业ID (CorpID)", Required: true, Validate: validCorpID},
		{Name: "secret", Label: "审批应用 Secret (or a self-built app's Secret that may call the approval API)", Secret: true, Required: true},
		{Name: "templateId", Label: "审批模板 id", Required: true, Validate: validTemplate},
		{Name: "creatorUserId", Label: "申请人 UserID (the member the approvals are filed for)", Required: true, Validate: validUserID},
		{Name: "deliveryControlId", Label: "Optional id of a Text control in the template that receives kefuhub's delivery id " +
			"(default: the delivery id is the detail's last line)", Validate: validControlID},
	},
	Setup: "在企业微信管理后台「审批」中创建模板，包含单行文本控件 Text-ticket（工单号）和多行文本控件 Textarea-detail（工单内容），" +
		"并设置审批人（kefuhub 使用模板中的审批流程）；把可调用接口的应用设为「审批」或你的自建应用，并在其「企业可信IP」中加入 kefuhub 的出口 IP。" +
		"status changes are delivered to {callbackUrl}. / In the WeCom admin console (审批) create a template with a Text " +
		"control whose id is Text-ticket (the ticket reference) and a Textarea control whose id is Textarea-detail (the " +
		"work order), and set its approvers: kefuhub files approvals with the template's approval flow. Let the 审批 app " +
		"(or your self-built app) call the approval API, and add kefuhub's outbound IP to its trusted IPs (企业可信IP). " +
		"Only ticket.created creates an approval.",
}

type approvalTarget struct {
	api                 *api
	templateID, creator string
	deliveryControl     string
}

// NewApproval builds a WECOM_APPROVAL target with a token cache of its
// own; targets built through ApprovalConnector share one.
func NewApproval(cfg connectors.Config) (connectors.Target, error) {
	return newApprovalTarget(cfg, newTokenCache())
}

func newApprovalTarget(cfg connectors.Config, tokens *tokenCache) (*approvalTarget, error) {
	s := cfg.Settings
	if s["corpId"] == "" || s["secret"] == "" || s["templateId"] == "" || s["creatorUserId"] == "" {
		return nil, errors.New("wecomwork: corpId, secret, templateId and creatorUserId are required")
	}
	if c := s["deliveryControlId"]; c != "" && (c == ControlTicket || c == ControlDetail) {
		return nil, fmt.Errorf("wecomwork: deliveryControlId must be a control other than %s and %s", ControlTicket, ControlDetail)
	}
	return &approvalTarget{api: newAPI(cfg, s["corpId"], s["secret"], tokens), templateID: s["templateId"],
		creator: s["creatorUserId"], deliveryControl: s["deliveryControlId"]}, nil
}

type textValue struct {
	Text string `json:"text"`
}

type control struct {
	Control string    `json:"control"`
	ID      string    `json:"id"`
	Value   textValue `json:"value"`
}

type summaryText struct {
	Text string `json:"text"`
	Lang string `json:"lang"`
}

type summary struct {
	SummaryInfo []summaryText `json:"summary_info"`
}

type applyEvent struct {
	CreatorUserID       string `json:"creator_userid"`
	TemplateID          string `json:"template_id"`
	UseTemplateApprover int    `json:"use_template_approver"`
	ApplyData           struct {
		Contents []control `json:"contents"`
	} `json:"apply_data"`
	SummaryList []summary `json:"summary_list"`
}

type applyAnswer struct {
	commonError
	SpNo string `json:"sp_no"`
}

// deliveryLine is how the delivery id is written into the detail when the
// template has no control for it.
func deliveryLine(id string) string { return "\n\n—— kefuhub 投递编号 / delivery id: " + id }

func (t *approvalTarget) request(wo connectors.WorkOrder) applyEvent {
	title := orDefault(wo.Title, "工单 "+wo.TicketRef)
	detail := orDefault(wo.Text, title)
	var req applyEvent
	req.CreatorUserID, req.TemplateID, req.UseTemplateApprover = t.creator, t.templateID, 1
	contents := []control{{Control: "Text", ID: ControlTicket, Value: textValue{Text: wo.TicketRef}}}
	if t.deliveryControl != "" {
		contents = append(contents,
			control{Control: "Textarea", ID: ControlDetail, Value: textValue{Text: detail}},
			control{Control: "Text", ID: t.deliveryControl, Value: textValue{Text: wo.DeliveryID}})
	} else {
		contents = append(contents, control{Control: "Textarea", ID: ControlDetail, Value: textValue{Text: detail + deliveryLine(wo.DeliveryID)}})
	}
	req.ApplyData.Contents = contents
	req.SummaryList = []summary{{SummaryInfo: []summaryText{{Text: clipRunes(title, maxSummary), Lang: "zh_CN"}}}}
	return req
}

// Deliver files an approval for a ticket.created work order and returns
// its sp_no as ExternalID. Other events make no call and return an empty
// DeliverResult: an approval is started once per ticket, and its outcome
// comes back through the sys_approval_change callback.
//
// applyevent has no idempotency key: a retry after a lost response files
// a second approval (see the package comment).
func (t *approvalTarget) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	if wo.Event != appliedEvent {
		return connectors.DeliverResult{}, nil
	}
	var out applyAnswer
	if err := t.api.post(ctx, "oa/applyevent", pathApplyEvent, t.request(wo), &out); err != nil {
		return connectors.DeliverResult{}, err
	}
	if out.SpNo == "" {
		// Filed, most likely, but unidentifiable: a retry would file another.
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: "WeCom accepted the approval but gave no sp_no"}
	}
	return connectors.DeliverResult{ExternalID: out.SpNo}, nil
}

// Test fetches a fresh access token: corpId, secret and the IP allow-list.
func (t *approvalTarget) Test(ctx context.Context) error { return t.api.testToken(ctx) }
