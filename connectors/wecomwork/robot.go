package wecomwork

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// maxMarkdown is the robot's limit on markdown content, in bytes.
const maxMarkdown = 4096

// RobotConnector is the WECOM_ROBOT target kind.
func RobotConnector() connectors.TargetConnector {
	return connectors.TargetConnector{Spec: robotSpec, New: NewRobot}
}

var robotSpec = connectors.TargetSpec{
	Kind:  models.TargetWeComRobot,
	Label: "WeCom group robot (企业微信群机器人)",
	Fields: []connectors.Field{
		{Name: "key", Label: "群机器人 key, or its whole webhook address", Secret: true, Required: true, Validate: validRobotKey},
	},
	Setup: "在企业微信群聊中添加群机器人，复制其 Webhook 地址（或其中 key= 后的部分）粘贴到这里。测试只检查 key 的格式，不会往群里发消息。 / " +
		"Add a robot to the WeCom group chat (群机器人) and paste its webhook address, or the part after key=. " +
		"Testing the target checks the key's format only: it posts nothing to the group.",
}

type robotTarget struct {
	client *resty.Client
	key    string
}

// NewRobot builds a WECOM_ROBOT target.
func NewRobot(cfg connectors.Config) (connectors.Target, error) {
	if cfg.Settings["key"] == "" {
		return nil, errors.New("wecomwork: key is required")
	}
	key, err := robotKey(cfg.Settings["key"])
	if err != nil {
		return nil, fmt.Errorf("wecomwork: key %w", err)
	}
	client, _ := newClient(cfg)
	return &robotTarget{client: client, key: key}, nil
}

type markdownMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// content is the markdown: the title in bold, then the text.
func content(wo connectors.WorkOrder) string {
	var b strings.Builder
	if title := strings.TrimSpace(wo.Title); title != "" {
		b.WriteString("**" + title + "**\n")
	}
	b.WriteString(wo.Text)
	return clipBytes(b.String(), maxMarkdown)
}

// Deliver posts the work order to the group. The robot gives no message
// id (ExternalID stays empty) and has no duplicate check: a retry after a
// lost response posts twice. It answers HTTP 200 with errcode ≠ 0 on
// failure (silenceper's robot.Send returns a nil error then; the answer is
// checked here): 93000 (unknown key) is permanent, 45009 (more than 20
// messages a minute) is retried after a minute.
func (t *robotTarget) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	var msg markdownMessage
	msg.MsgType = "markdown"
	msg.Markdown.Content = content(wo)
	payload, err := marshal(msg)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	resp, err := t.client.R().SetContext(ctx).
		SetQueryParam("key", t.key).
		SetHeader("Content-Type", "application/json").
		SetBody(payload).
		Post(pathWebhook)
	var out commonError
	if err := decode("webhook/send", resp, err, &out); err != nil {
		return connectors.DeliverResult{}, err
	}
	if out.ErrCode != 0 {
		return connectors.DeliverResult{}, classify(&APIError{Op: "webhook/send", Code: out.ErrCode, Msg: out.ErrMsg})
	}
	return connectors.DeliverResult{}, nil
}

// Test checks the key's format only. The robot API has no call that checks
// a key without posting to the group, and a test message in a staff group
// chat is noise; a wrong key shows on the first delivery as a permanent
// error (93000).
func (t *robotTarget) Test(context.Context) error {
	_, err := robotKey(t.key)
	return err
}
