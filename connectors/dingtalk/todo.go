package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// TodoConnector is the DINGTALK_TODO target kind: a new ticket becomes a
// DingTalk to-do (待办) for the listed staff.
//
//	POST {api}/v1.0/todo/users/{operatorUnionId}/tasks?operatorId={operatorUnionId}
//	     {subject, description, executorIds, creatorId, sourceId, dueTime?, detailUrl?}
//	→ {id, ...}; ExternalID = id
//
// One ticket is one to-do: only "ticket.created" creates one; other
// events of the ticket are accepted without a call (DeliverResult{}), so a
// dispatch rule that sends every event here does no harm. Updating or
// completing the to-do on later events is not done yet.
//
// Idempotency: sourceId is the ticket (todoSourceID), not the delivery,
// so a retry after a lost answer, or a second ticket.created delivery for
// the same ticket, names the to-do that exists. DingTalk documents
// sourceId as the business system's id of the to-do, but not what a second
// create with the same one answers (*unverified*); the fake answers with
// the existing to-do, and the connector takes whatever id comes back.
//
// The token comes from POST /v1.0/oauth2/accessToken and is cached per
// app (shared by the replicas through cfg.Tokens); HTTP 400 InvalidAuthentication refreshes it and retries once.
func TodoConnector() connectors.TargetConnector {
	tokens := newTokenCache()
	return connectors.TargetConnector{Spec: todoSpec, New: func(cfg connectors.Config) (connectors.Target, error) {
		return newTodo(cfg, tokens)
	}}
}

var todoSpec = connectors.TargetSpec{
	Kind:  models.TargetDingTalkTodo,
	Label: "DingTalk to-do (钉钉待办)",
	Fields: []connectors.Field{
		appKeyField,
		appSecretField,
		{Name: "operatorUnionId", Label: "unionId of the staff member who creates the to-dos", Required: true,
			Validate: matches(idPattern, "a unionId (letters and digits)")},
		{Name: "executorUnionIds", Label: "unionIds of the staff who do the to-dos, comma-separated", Required: true,
			Validate: idList("unionId")},
		{Name: "detailUrl", Label: "Link shown on the to-do; {ticket} is replaced by the ticket reference (optional)",
			Validate: httpURLTemplate},
		{Name: "resolveWhenDone", Label: `"true" resolves the ticket when its to-do is ticked off in DingTalk (default "false")`,
			Validate: boolSetting},
	},
	Setup: "在钉钉开发者后台创建企业内部应用，复制 AppKey 和 AppSecret，并开通待办应用的写权限（Todo.Todo.Write）。operatorUnionId 是创建待办的员工，" +
		"executorUnionIds 是执行人，均为 unionId（可用「根据 userId 获取用户详情」查到）。每个工单只在创建时生成一个待办。 / " +
		"In the DingTalk developer console, create an internal app, copy its AppKey and AppSecret and grant it the to-do write " +
		"permission. operatorUnionId creates the to-dos, executorUnionIds do them (unionIds, not userIds). Each ticket makes one " +
		"to-do, when it is created.",
}

type todo struct {
	app
	operator  string
	executors []string
	detailURL string
	// resolveWhenDone: the hub polls the to-dos of open tickets and
	// resolves a ticket whose to-do is done. DingTalk's HTTP event push has
	// no documented to-do event, so the state is read with GET
	// /v1.0/todo/users/{unionId}/tasks/{taskId} (查询待办详情), field done.
	resolveWhenDone bool
}

var (
	_ connectors.Target      = (*todo)(nil)
	_ connectors.DoneWatcher = (*todo)(nil)
)

// NewTodo builds a DINGTALK_TODO target with a token cache of its own;
// targets built through TodoConnector share one.
func NewTodo(cfg connectors.Config) (connectors.Target, error) { return newTodo(cfg, newTokenCache()) }

func newTodo(cfg connectors.Config, tokens *tokenCache) (*todo, error) {
	a, err := newApp(cfg, newToken, tokens)
	if err != nil {
		return nil, err
	}
	t := &todo{app: a, operator: cfg.Settings["operatorUnionId"], executors: splitIDs(cfg.Settings["executorUnionIds"]),
		detailURL: cfg.Settings["detailUrl"], resolveWhenDone: cfg.Settings["resolveWhenDone"] == "true"}
	if !idPattern.MatchString(t.operator) {
		return nil, errors.New("dingtalk: operatorUnionId must be a unionId")
	}
	if len(t.executors) == 0 {
		return nil, errors.New("dingtalk: executorUnionIds must list at least one unionId")
	}
	return t, nil
}

// todoSourceID is the to-do's sourceId: the ticket, scoped by the target
// (two tenants' T-1024, or two to-do targets of one tenant, are different
// to-dos). Without a ticket reference it falls back to the delivery.
func (t *todo) todoSourceID(wo connectors.WorkOrder) string {
	key := wo.TicketRef
	if key == "" {
		key = wo.DeliveryID
	}
	if t.targetID == "" {
		return key
	}
	return t.targetID + ":" + key
}

type todoDetailURL struct {
	AppURL string `json:"appUrl"`
	PCURL  string `json:"pcUrl"`
}

type todoRequest struct {
	Subject     string         `json:"subject"`
	Description string         `json:"description,omitempty"`
	DueTime     int64          `json:"dueTime,omitempty"`
	ExecutorIDs []string       `json:"executorIds"`
	CreatorID   string         `json:"creatorId"`
	SourceID    string         `json:"sourceId"`
	DetailURL   *todoDetailURL `json:"detailUrl,omitempty"`
}

// Deliver creates the ticket's to-do on ticket.created and ignores other
// events.
func (t *todo) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	if wo.Event != EventTicketCreated {
		return connectors.DeliverResult{}, nil
	}
	subject, text, err := markdown(wo)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	req := todoRequest{Subject: subject, ExecutorIDs: t.executors, CreatorID: t.operator,
		SourceID: t.todoSourceID(wo), DueTime: dueTime(wo.Document)}
	if text != subject {
		req.Description = text
	}
	var res connectors.DeliverResult
	if t.detailURL != "" && wo.TicketRef != "" {
		u := strings.ReplaceAll(t.detailURL, "{ticket}", url.PathEscape(wo.TicketRef))
		req.DetailURL = &todoDetailURL{AppURL: u, PCURL: u}
		res.URL = u
	}
	var out struct {
		ID string `json:"id"`
	}
	path := fmt.Sprintf(pathTodoTasks, url.PathEscape(t.operator))
	if err := t.postNew(ctx, "todo", path, map[string]string{"operatorId": t.operator}, req, &out); err != nil {
		return connectors.DeliverResult{}, err
	}
	if out.ID == "" {
		return connectors.DeliverResult{}, &connectors.RetryableError{Err: errors.New("dingtalk: todo: answer without id")}
	}
	res.ExternalID = out.ID
	return res, nil
}

// dueTime is the ticket's dueAt from the work-order document, in ms; 0
// when it has none.
func dueTime(doc []byte) int64 {
	var d struct {
		Ticket struct {
			DueAt *time.Time `json:"dueAt"`
		} `json:"ticket"`
	}
	if json.Unmarshal(doc, &d) != nil || d.Ticket.DueAt == nil || d.Ticket.DueAt.IsZero() {
		return 0
	}
	return d.Ticket.DueAt.UnixMilli()
}

// WatchDone says whether the target's setting asks for tickets to be
// resolved when their to-do is done.
func (t *todo) WatchDone() bool { return t.resolveWhenDone }

// Done asks DingTalk whether the to-do id is done, as its creator.
func (t *todo) Done(ctx context.Context, id string) (bool, error) {
	var out struct {
		ID   string `json:"id"`
		Done bool   `json:"done"`
	}
	path := fmt.Sprintf(pathTodoTasks, url.PathEscape(t.operator)) + "/" + url.PathEscape(id)
	if err := t.getNew(ctx, "todo detail", path, nil, &out); err != nil {
		return false, err
	}
	if out.ID != id {
		return false, fmt.Errorf("dingtalk: todo detail: answer for %q, asked for %q", out.ID, id)
	}
	return out.Done, nil
}

// Test fetches a token, which proves the appKey and appSecret. It creates
// nothing.
func (t *todo) Test(ctx context.Context) error {
	_, err := t.accessToken(ctx)
	return testError(err)
}
