package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// RobotConnector is the DINGTALK_ROBOT target kind: a custom group robot
// with 加签 (signing) posts each work-order event to its group as markdown.
//
//	POST {oapi}/robot/send?access_token=&timestamp=&sign=
//	     {msgtype:"markdown", markdown:{title, text}, msgUuid: DeliveryID}
//
// msgUuid is the delivery id, which stays the same across retries:
// DingTalk drops a repeated msgUuid, so a retry after a lost response
// posts once. 310000 (sign, keyword or IP allow-list refused) and 300001
// (no such robot) are permanent; 410100 (over 20 messages a minute: the
// robot is blocked for 10 minutes) is retryable after 10 minutes.
func RobotConnector() connectors.TargetConnector {
	return connectors.TargetConnector{Spec: robotSpec, New: NewRobot}
}

var (
	robotTokenPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
	robotSecretPattern = regexp.MustCompile(`^SEC[A-Za-z0-9]{16,128}$`)
)

var robotSpec = connectors.TargetSpec{
	Kind:  models.TargetDingTalkRobot,
	Label: "DingTalk group robot (钉钉群自定义机器人)",
	Fields: []connectors.Field{
		{Name: "accessToken", Label: "access_token of the robot's Webhook URL", Secret: true, Required: true,
			Validate: matches(robotTokenPattern, "the access_token from the Webhook URL (https://oapi.dingtalk.com/robot/send?access_token=…): only the part after access_token=")},
		{Name: "secret", Label: "加签 secret (starts with SEC)", Secret: true, Required: true,
			Validate: matches(robotSecretPattern, "the robot's 加签 secret, which starts with SEC")},
	},
	Setup: "在钉钉群的「群设置 → 机器人 → 添加机器人 → 自定义」中添加机器人，安全设置选择「加签」；把 Webhook 地址中 access_token= 之后的部分" +
		"和 SEC 开头的密钥填到这里。若同时设置了自定义关键词，消息模板须包含关键词；若设置了 IP 地址段，须包含 kefuhub 的出口 IP。 / " +
		"In the DingTalk group, add a custom robot (group settings → robots → custom) with the 加签 (sign) security setting; paste " +
		"the part of its Webhook URL after access_token= and the secret starting with SEC. Keywords and IP ranges, if set too, " +
		"must match the message template and kefuhub's outgoing IP. A robot posts at most 20 messages a minute.",
}

type robot struct {
	base
	accessToken, secret string
}

var _ connectors.Target = (*robot)(nil)

// NewRobot builds a DINGTALK_ROBOT target from its settings.
func NewRobot(cfg connectors.Config) (connectors.Target, error) {
	r := &robot{base: newBase(cfg), accessToken: cfg.Settings["accessToken"], secret: cfg.Settings["secret"]}
	if r.accessToken == "" || r.secret == "" {
		return nil, errors.New("dingtalk: robot accessToken and secret are required")
	}
	return r, nil
}

// RobotSign returns the timestamp (ms) and the sign of a robot call at t:
// base64(HMAC-SHA256(key=secret, timestamp + "\n" + secret)). The sign
// goes URL-encoded into the query (url.Values does that).
func RobotSign(secret string, t time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(t.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return timestamp, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type robotMessage struct {
	MsgType  string        `json:"msgtype"`
	Markdown robotMarkdown `json:"markdown"`
	MsgUUID  string        `json:"msgUuid,omitempty"`
}

type robotMarkdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Deliver posts the work order's rendered message to the group.
func (r *robot) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	title, text, err := markdown(wo)
	if err != nil {
		return connectors.DeliverResult{}, err
	}
	ts, sign := RobotSign(r.secret, r.now())
	resp, err := r.client.R().SetContext(ctx).
		SetQueryParams(map[string]string{"access_token": r.accessToken, "timestamp": ts, "sign": sign}).
		SetHeader("Content-Type", "application/json; charset=utf-8").
		SetBody(robotMessage{MsgType: "markdown", Markdown: robotMarkdown{Title: title, Text: text}, MsgUUID: wo.DeliveryID}).
		Post(r.oapi + pathRobotSend)
	var out struct {
		ErrCode int64  `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := decodeOld("robot/send", resp, err, &out); err != nil {
		return connectors.DeliverResult{}, err
	}
	e := &APIError{Op: "robot/send", ErrCode: out.ErrCode, Msg: out.ErrMsg}
	switch out.ErrCode {
	case 0:
		// The robot gives no id for a message.
		return connectors.DeliverResult{}, nil
	case codeRobotSecurity:
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: fmt.Sprintf(
			"the DingTalk robot refused the message (%s): check the 加签 secret, the robot's keywords (the message must contain one) and its IP allow-list", out.ErrMsg)}
	case codeRobotNotFound:
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: fmt.Sprintf(
			"the DingTalk robot refused the message (errcode %d: %s): check the access_token; the robot may have been removed from the group", out.ErrCode, out.ErrMsg)}
	case codeRobotRateLimit:
		return connectors.DeliverResult{}, &connectors.RetryableError{After: robotBlockedFor, Err: e}
	}
	return connectors.DeliverResult{}, classifyOld(e)
}

// Test checks the settings without calling DingTalk. DingTalk has no dry
// run for robots: any accepted call posts to the group, and a malformed
// one to find out whether the sign passes is not documented to leave the
// group alone. So Test checks the access_token's and the secret's form and
// that a sign can be computed; a wrong secret shows on the first delivery
// as a permanent 310000 "sign not match".
func (r *robot) Test(context.Context) error {
	if err := matches(robotTokenPattern, "the access_token from the robot's Webhook URL")(r.accessToken); err != nil {
		return fmt.Errorf("dingtalk: accessToken %w", err)
	}
	if err := matches(robotSecretPattern, "the robot's 加签 secret, which starts with SEC")(r.secret); err != nil {
		return fmt.Errorf("dingtalk: secret %w", err)
	}
	ts, sign := RobotSign(r.secret, r.now())
	raw, err := base64.StdEncoding.DecodeString(sign)
	if err != nil || len(raw) != sha256.Size || ts == "" {
		return errors.New("dingtalk: cannot compute the robot's sign")
	}
	return nil
}
