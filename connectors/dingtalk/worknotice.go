package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// WorkNoticeConnector is the DINGTALK_WORK_NOTICE target kind: the app
// sends each work-order event to the listed staff as a work notification
// (工作通知), markdown.
//
//	POST {oapi}/topapi/message/corpconversation/asyncsend_v2?access_token=
//	     agent_id, userid_list, msg={msgtype:"markdown", markdown:{title, text}}  (form, as documented)
//	→ {errcode, errmsg, task_id, request_id}; ExternalID = task_id
//
// The token comes from GET /gettoken and is cached per app; 40014 and
// 42001 refresh it and retry once.
//
// Duplicates: DingTalk does not deduplicate work notices (asyncsend_v2
// takes no idempotency key), so when the answer is lost after DingTalk
// accepted the notice, the dispatcher's retry notifies the staff a second
// time. kefuhub accepts that rather than risk a notice never arriving.
func WorkNoticeConnector() connectors.TargetConnector {
	tokens := newTokenCache()
	return connectors.TargetConnector{Spec: workNoticeSpec, New: func(cfg connectors.Config) (connectors.Target, error) {
		return newWorkNotice(cfg, tokens)
	}}
}

var workNoticeSpec = connectors.TargetSpec{
	Kind:  models.TargetDingTalkWorkNotice,
	Label: "DingTalk work notification (钉钉工作通知)",
	Fields: []connectors.Field{
		appKeyField,
		appSecretField,
		{Name: "agentId", Label: "AgentId of the internal app", Required: true,
			Validate: matches(agentIDPattern, "the app's AgentId (digits)")},
		{Name: "userIds", Label: "userIds of the staff to notify, comma-separated", Required: true, Validate: idList("userId")},
	},
	Setup: "在钉钉开发者后台创建企业内部应用，在「凭证与基础信息」复制 AppKey、AppSecret 和 AgentId，并在「权限管理」开通「企业内消息通知」相关权限；" +
		"userIds 是要通知的员工的 userId（通讯录中可查）。 / In the DingTalk developer console, create an internal app, copy its " +
		"AppKey, AppSecret and AgentId, and grant it the work-notification permission; userIds are the staff's userIds " +
		"(at most 100). DingTalk does not deduplicate work notices: after a lost answer, a retry may notify twice.",
}

type workNotice struct {
	app
	agentID string
	userIDs []string
}

var _ connectors.Target = (*workNotice)(nil)

// NewWorkNotice builds a DINGTALK_WORK_NOTICE target with a token cache of
// its own; targets built through WorkNoticeConnector share one.
func NewWorkNotice(cfg connectors.Config) (connectors.Target, error) {
	return newWorkNotice(cfg, newTokenCache())
}

func newWorkNotice(cfg connectors.Config, tokens *tokenCache) (*workNotice, error) {
	a, err := newApp(cfg, oldToken, tokens)
	if err != nil {
		return nil, err
	}
	w := &workNotice{app: a, agentID: cfg.Settings["agentId"], userIDs: splitIDs(cfg.Settings["userIds"])}
	if !agentIDPattern.MatchString(w.agentID) {
		return nil, errors.New("dingtalk: agentId must be the app's AgentId (digits)")
	}
	if len(w.userIDs) == 0 {
		return nil, errors.New("dingtalk: userIds must list at least one userId")
	}
	return w, nil
}

type noticeMsg struct {
	MsgType  string        `json:"msgtype"`
	Markdown robotMarkdown `json:"markdown"`
}

// Deliver sends the work notice.
func (w *workNotice) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	title, text, err := markdown(wo)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	msg, _ := json.Marshal(noticeMsg{MsgType: "markdown", Markdown: robotMarkdown{Title: title, Text: text}})
	var out struct {
		TaskID json.Number `json:"task_id"`
	}
	err = w.postOld(ctx, "asyncsend_v2", pathAsyncSend, map[string]string{
		"agent_id":    w.agentID,
		"userid_list": strings.Join(w.userIDs, ","),
		"msg":         string(msg),
	}, &out)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	return connectors.DeliverResult{ExternalID: out.TaskID.String()}, nil
}

// Test fetches a token, which proves the appKey and appSecret. It sends
// nothing: a work notice cannot be sent to nobody.
func (w *workNotice) Test(ctx context.Context) error {
	_, err := w.accessToken(ctx)
	return testError(err)
}

// testError turns a token error into what the admin reads.
func testError(err error) error {
	var pe *connectors.PermanentError
	if errors.As(err, &pe) {
		return errors.New("dingtalk: " + pe.Reason)
	}
	return err
}
