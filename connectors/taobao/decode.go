package taobao

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
)

// Topic families kefuhub turns into events and messages.
const (
	TradeTopicPrefix  = "taobao_trade_"
	RefundTopicPrefix = "taobao_refund_"
	// ChatTopicPrefix names buyer chat (旺旺) topics. PLATFORMS.md only says
	// chat records reach apps holding the chat-record permission through a
	// TMC topic, without naming it; kefuhub takes every taobao_wangwang_*
	// topic as chat, and the fake publishes TopicChat. The content shape is
	// likewise an assumption (see chatText):
	//
	//	{"buyer_open_uid", "buyer_nick", "seller_nick", "content",
	//	 "direction": "c2b" (buyer to shop) | "b2c" (shop to buyer), "msg_id"}
	ChatTopicPrefix = "taobao_wangwang_"
	TopicChat       = "taobao_wangwang_ChatMessage"
)

const methodConsume = "taobao.tmc.messages.consume"

var errBadShape = errors.New("taobao: " + methodConsume + ": the result has an unexpected shape")

// tmcMessage is one message of a consume answer.
type tmcMessage struct {
	ID        flexString      `json:"id"`
	Topic     string          `json:"topic"`
	Content   json.RawMessage `json:"content"`
	PubAppKey flexString      `json:"pub_app_key"`
	PubTime   string          `json:"pub_time"`
	UserID    flexString      `json:"user_id"`
	UserNick  string          `json:"user_nick"`
}

// batch is a decoded consume answer.
type batch struct {
	events []connectors.InboundEvent
	// ids are every message id to confirm, including messages that became
	// no event (unknown topics, no buyer, undecodable content): confirming
	// them is what stops TMC from redelivering them forever.
	ids []string
	// received counts the messages in the answer, to tell a full batch.
	received int
}

// DecodeConsume parses a taobao.tmc.messages.consume answer into events.
// An error_response becomes the same typed errors as a live call
// (RetryableError, PermanentError, *APIError). Messages that are not
// trade, refund or chat topics, have no buyer, or cannot be decoded are
// left out (Sync still confirms them). It is the parser the fuzz test
// drives and never panics.
func DecodeConsume(body []byte) ([]connectors.InboundEvent, error) {
	b, err := decodeConsume(body)
	if err != nil {
		return nil, err
	}
	return b.events, nil
}

func decodeConsume(body []byte) (*batch, error) {
	raw, err := unwrap(methodConsume, body)
	if err != nil {
		return nil, err
	}
	// The result is {"messages": {"tmc_message": [...]}}; PLATFORMS.md also
	// spells the outer name tmc_messages, which is accepted too. An empty
	// queue comes back as {} (TOP leaves empty lists out).
	var res struct {
		Messages    *messageList `json:"messages"`
		TmcMessages *messageList `json:"tmc_messages"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, errBadShape
	}
	list := res.Messages
	if list == nil {
		list = res.TmcMessages
	}
	b := &batch{}
	if list == nil {
		return b, nil
	}
	msgs, err := list.items()
	if err != nil {
		return nil, errBadShape
	}
	b.received = len(msgs)
	seen := map[string]bool{}
	for _, m := range msgs {
		var msg tmcMessage
		if err := json.Unmarshal(m, &msg); err != nil {
			// Salvage the id so the message is confirmed, not redelivered
			// forever.
			var idOnly struct {
				ID flexString `json:"id"`
			}
			_ = json.Unmarshal(m, &idOnly)
			msg = tmcMessage{ID: idOnly.ID}
		}
		id := string(msg.ID)
		if !validID(id) {
			continue
		}
		if !seen[id] {
			seen[id] = true
			b.ids = append(b.ids, id)
		}
		if ev, ok := toEvent(&msg, m); ok {
			b.events = append(b.events, ev)
		}
	}
	return b, nil
}

// messageList is {"tmc_message": [...]} (a lone object is taken as a list
// of one).
type messageList struct {
	TmcMessage json.RawMessage `json:"tmc_message"`
}

func (l *messageList) items() ([]json.RawMessage, error) {
	t := bytes.TrimSpace(l.TmcMessage)
	switch {
	case len(t) == 0 || string(t) == "null":
		return nil, nil
	case t[0] == '{':
		return []json.RawMessage{t}, nil
	}
	var out []json.RawMessage
	err := json.Unmarshal(t, &out)
	return out, err
}

// validID accepts a TMC message id: 1 to 20 decimal digits.
func validID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toEvent maps one message; ok is false for messages that become no event.
func toEvent(m *tmcMessage, raw []byte) (connectors.InboundEvent, bool) {
	topic := m.Topic
	isTrade := strings.HasPrefix(topic, TradeTopicPrefix)
	isRefund := strings.HasPrefix(topic, RefundTopicPrefix)
	isChat := strings.HasPrefix(topic, ChatTopicPrefix)
	if !isTrade && !isRefund && !isChat {
		return connectors.InboundEvent{}, false
	}
	content, ok := decodeContent(m.Content)
	if !ok {
		return connectors.InboundEvent{}, false
	}
	sender := connectors.Sender{ExternalID: str(content["buyer_open_uid"]), DisplayName: str(content["buyer_nick"])}
	if sender.ExternalID == "" {
		// Nicknames are being replaced by buyer_open_uid; a nick is the
		// identity only when the open uid is absent.
		sender.ExternalID = sender.DisplayName
	}
	if strings.TrimSpace(sender.ExternalID) == "" {
		return connectors.InboundEvent{}, false // the hub cannot file an event without a customer
	}
	ev := connectors.InboundEvent{
		ExternalID:  string(m.ID),
		Sender:      sender,
		ContentType: "text/plain",
		Context:     content,
		SentAt:      parseTime(m.PubTime),
		Raw:         append([]byte(nil), raw...),
	}
	switch {
	case isChat:
		text, ok := chatText(content)
		if !ok {
			return connectors.InboundEvent{}, false
		}
		ev.Kind, ev.Text = connectors.KindMessage, text
	case isTrade:
		ev.Kind, ev.EventType, ev.Text = connectors.KindEvent, topic, tradeText(topic, content)
	default:
		ev.Kind, ev.EventType, ev.Text = connectors.KindEvent, topic, refundText(topic, content)
	}
	return ev, true
}

// decodeContent parses a message's content: a JSON string holding a JSON
// object (an object in place of the string is accepted).
func decodeContent(raw json.RawMessage) (map[string]any, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, false
		}
		t = bytes.TrimSpace([]byte(s))
	}
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return normalize(m).(map[string]any), true
}

// idKeys are content fields that are identifiers: kept as strings, since
// tids and oids exceed 2^53.
var idKeys = map[string]bool{
	"tid": true, "oid": true, "refund_id": true, "user_id": true, "seller_id": true,
	"buyer_id": true, "msg_id": true, "item_id": true, "num_iid": true, "sku_id": true,
}

// normalize replaces json.Numbers: identifiers become strings, integers that
// float64 holds exactly become int64, other integers strings, the rest
// float64.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(json.Number); ok && idKeys[k] {
				x[k] = n.String()
				continue
			}
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			if i <= 1<<53 && i >= -(1<<53) {
				return i
			}
			return x.String()
		}
		if f, err := strconv.ParseFloat(x.String(), 64); err == nil && !math.IsInf(f, 0) {
			if !strings.ContainsAny(x.String(), ".eE") {
				return x.String() // an integer beyond int64
			}
			return f
		}
		return x.String()
	}
	return v
}

// str renders a context value as text.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// money renders an amount as " ¥12.50", or "" when there is none.
func money(v any) string {
	s := str(v)
	if s == "" {
		return ""
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		s = strconv.FormatFloat(f, 'f', 2, 64)
	}
	return " ¥" + s
}

func parseTime(s string) time.Time {
	t, err := time.ParseInLocation(timeLayout, strings.TrimSpace(s), gmt8)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func order(c map[string]any) string {
	if tid := str(c["tid"]); tid != "" {
		return "（订单 " + tid + "）"
	}
	return ""
}

// tradeText is the one-line summary an agent reads for a trade topic.
func tradeText(topic string, c map[string]any) string {
	pay := money(c["payment"])
	var s string
	switch name := strings.TrimPrefix(topic, TradeTopicPrefix); name {
	case "TradeCreate":
		s = "买家已下单" + pay
	case "TradeBuyerPay":
		s = "买家已付款" + pay
	case "TradeSellerShip":
		s = "订单已发货"
	case "TradePartlySellerShip":
		s = "订单已部分发货"
	case "TradeSuccess":
		s = "交易成功"
	case "TradeClose", "TradeCloseAndModifyDetailOrder":
		s = "交易已关闭"
	case "TradeChanged":
		s = "订单已变更"
		if st := str(c["status"]); st != "" {
			s += "：" + st
		}
	case "TradeMemoModified":
		s = "订单备注已修改"
	case "TradeRated":
		s = "买家已评价"
	case "TradePartlyRefund":
		s = "订单部分退款"
	default:
		s = "订单更新：" + name
	}
	return s + order(c)
}

// refundText is the one-line summary of a refund topic.
func refundText(topic string, c map[string]any) string {
	fee := money(c["refund_fee"])
	after := str(c["refund_phase"]) == "aftersale"
	var s string
	switch name := strings.TrimPrefix(topic, RefundTopicPrefix); name {
	case "RefundCreated":
		s = "买家申请退款" + fee
		if after {
			s = "买家申请售后退款" + fee
		}
	case "RefundSuccess":
		s = "退款成功" + fee
	case "RefundClosed":
		s = "退款已关闭"
	case "RefundSellerAgreeAgreement":
		s = "卖家已同意退款" + fee
	case "RefundSellerRefuseAgreement":
		s = "卖家已拒绝退款"
	case "RefundBuyerModifyAgreement":
		s = "买家修改了退款申请" + fee
	case "RefundBuyerReturnGoods":
		s = "买家已退货"
	case "RefundCreateMessage":
		s = "退款有新留言"
	case "RefundBlockMessage":
		s = "退款留言被屏蔽"
	case "RefundTimeoutRemind":
		s = "退款即将超时"
	default:
		s = "退款更新：" + name
	}
	return s + order(c)
}

// chatText is a chat message's text; ok is false for the shop's own lines
// (direction b2c), which are not customer messages.
func chatText(c map[string]any) (string, bool) {
	if d := strings.ToLower(str(c["direction"])); d == "b2c" || d == "out" {
		return "", false
	}
	for _, k := range []string{"content", "text", "msg"} {
		if s := str(c[k]); s != "" {
			return s, true
		}
	}
	return "[非文字消息]", true
}
