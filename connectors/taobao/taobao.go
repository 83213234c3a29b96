// Package taobao connects a Taobao / Tmall shop through the Taobao Open
// Platform (TOP): signed form POSTs to the gateway, no SDK. The shop's
// trade, refund and buyer-chat notifications arrive through the Taobao
// Message Channel (TMC), which kefuhub pulls (there are no webhooks):
// taobao.tmc.messages.consume, then taobao.tmc.messages.confirm.
//
// # Sync and confirm
//
// TMC redelivers every message that is not confirmed, so a message must be
// confirmed only once the hub has stored it. Sync therefore never confirms
// what it has just fetched; the ids to confirm travel in the cursor, which
// the hub commits in the transaction that stores the events:
//
//  1. Sync(ctx, cursor, hint): if cursor is not empty it is the
//     comma-separated TMC ids of the previous page, already stored by the
//     hub; Sync confirms them first (taobao.tmc.messages.confirm).
//  2. It then consumes up to 100 messages of the group hint.Key (the
//     channel's groupName when empty) and returns their events, with
//     Cursor = the comma-separated ids of every message consumed (also the
//     ones that became no event, so that they are confirmed too) and
//     More = the batch was full.
//  3. The hub stores the events and the new cursor in one transaction, and
//     the next Sync (right away when More, else at the next poll) confirms
//     them.
//
// A crash after consume and before the store loses nothing: the messages
// are not confirmed, TMC delivers them again, and the hub deduplicates on
// ExternalID (the TMC message id). A crash after the store and before the
// confirm is resumed from the stored cursor. When confirming fails with a
// retryable or permanent error, Sync returns it and the cursor stays, so the
// same ids are confirmed on the next attempt (confirming twice is harmless);
// any other refusal of the confirm (an id TMC no longer knows) does not
// stop the sync: at worst those messages come again and are deduplicated.
// When consume fails after a successful confirm, Sync returns the error and
// the next attempt confirms the same ids again.
//
// Replies: TOP has no public API to answer a buyer in real time, so Send
// always fails with a PermanentError telling the agent to answer in
// 千牛/旺旺. LogisticsTrace looks up a parcel for "where is my order"
// questions.
package taobao

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// DefaultGateway is TOP's public REST gateway.
const DefaultGateway = "https://gw.api.taobao.com/router/rest"

// DefaultGroup is TMC's default message group.
const DefaultGroup = "default"

const (
	// ConsumeQuantity is how many messages one Sync asks for.
	ConsumeQuantity = 100
	pollEvery       = 2 * time.Second
	methodConfirm   = "taobao.tmc.messages.confirm"
	// confirmChunk bounds the ids of one confirm call.
	confirmChunk = 100
)

// Connector is the TAOBAO channel kind.
func Connector() connectors.Connector {
	return connectors.Connector{Spec: spec, New: New}
}

var spec = connectors.Spec{
	Kind:  models.ChannelTaobao,
	Label: "Taobao / Tmall shop (淘宝开放平台)",
	Fields: []connectors.Field{
		{Name: "appKey", Label: "App Key of the Taobao Open Platform application", Required: true, Validate: appKeyValid},
		{Name: "appSecret", Label: "App Secret", Secret: true, Required: true},
		{Name: "sessionKey", Label: "Session key the shop granted the app (授权 sessionKey)", Secret: true, Required: true},
		{Name: "groupName", Label: "TMC message group", Default: DefaultGroup, Validate: groupValid},
		{Name: "signMethod", Label: "Signing method: md5, hmac or hmac-sha256", Default: SignHMACSHA256, Validate: signMethodValid},
	},
	Setup: "1. In the Taobao Open Platform console (open.taobao.com), give the app the message permissions and subscribe it " +
		"to the topics kefuhub reads: taobao_trade_* (orders), taobao_refund_* (refunds) and, if the app holds the chat-record " +
		"permission, the 旺旺 chat topic (taobao_wangwang_*). If you use a TMC group other than \"default\", create it there " +
		"and put its name in groupName; no other program may consume that group, or it takes messages away from kefuhub. " +
		"2. Have the shop authorise the app and paste the session key. " +
		"3. Enable messages for the shop once by calling taobao.tmc.user.permit with the shop's session key " +
		"(Test tells you when this is missing). kefuhub pulls the group every 2 seconds (taobao.tmc.messages.consume) " +
		"and confirms what it stored; no callback URL is needed. " +
		"Agents cannot reply from kefuhub: Taobao has no public API to answer buyers in real time, answer them in 千牛/旺旺.",
}

func appKeyValid(s string) error {
	if len(s) > 32 || strings.ContainsAny(s, " \t\r\n,") {
		return errors.New("must be the app key shown in the console")
	}
	return nil
}

func groupValid(s string) error {
	if len(s) > 64 {
		return errors.New("must be at most 64 characters")
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return errors.New("may hold only letters, digits, _ and -")
		}
	}
	return nil
}

func signMethodValid(s string) error {
	switch s {
	case SignMD5, SignHMAC, SignHMACSHA256:
		return nil
	}
	return errors.New("must be md5, hmac or hmac-sha256")
}

// Channel is a configured Taobao shop.
type Channel struct {
	appKey, secret, session string
	group, signMethod       string
	gateway                 string
	client                  *resty.Client
	now                     func() time.Time
}

var (
	_ connectors.Channel = (*Channel)(nil)
	_ connectors.Poller  = (*Channel)(nil)
)

// New builds a TAOBAO channel from its settings.
func New(cfg connectors.Config) (connectors.Channel, error) {
	return NewChannel(cfg)
}

// NewChannel is New with the concrete type, for callers that need
// LogisticsTrace.
func NewChannel(cfg connectors.Config) (*Channel, error) {
	s := cfg.Settings
	c := &Channel{
		appKey: s["appKey"], secret: s["appSecret"], session: s["sessionKey"],
		group: s["groupName"], signMethod: s["signMethod"], gateway: cfg.BaseURL, now: cfg.Now,
	}
	if c.appKey == "" || c.secret == "" || c.session == "" {
		return nil, errors.New("taobao: appKey, appSecret and sessionKey are required")
	}
	if c.group == "" {
		c.group = DefaultGroup
	}
	if c.signMethod == "" {
		c.signMethod = SignHMACSHA256
	}
	if err := signMethodValid(c.signMethod); err != nil {
		return nil, fmt.Errorf("taobao: signMethod %w", err)
	}
	if c.gateway == "" {
		c.gateway = DefaultGateway
	}
	if u, err := url.Parse(c.gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("taobao: the gateway URL must be an http(s) URL")
	}
	if c.now == nil {
		c.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	c.client = resty.NewWithClient(hc).SetResponseBodyLimit(maxResponse)
	return c, nil
}

// PollEvery is how often the hub pulls the TMC group.
func (c *Channel) PollEvery() time.Duration { return pollEvery }

// PollKeys is the one stream: the TMC group.
func (c *Channel) PollKeys() []string { return []string{c.group} }

// Sync confirms the ids in cursor, then consumes the next batch; see the
// package documentation for the contract.
func (c *Channel) Sync(ctx context.Context, cursor string, hint connectors.SyncHint) (*connectors.SyncResult, error) {
	group := hint.Key
	if group == "" {
		group = c.group
	}
	if err := c.confirm(ctx, group, ParseCursor(cursor)); err != nil {
		return nil, err
	}
	body, err := c.do(ctx, methodConsume, map[string]string{
		"group_name": group, "quantity": strconv.Itoa(ConsumeQuantity),
	})
	if err != nil {
		return nil, err
	}
	b, err := decodeConsume(body)
	if err != nil {
		return nil, err
	}
	return &connectors.SyncResult{
		Events: b.events,
		Cursor: strings.Join(b.ids, ","),
		More:   b.received >= ConsumeQuantity,
	}, nil
}

// ParseCursor returns the message ids a cursor holds; anything that is not
// an id is dropped (an unconfirmed message only comes again).
func ParseCursor(cursor string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, p := range strings.Split(cursor, ",") {
		p = strings.TrimSpace(p)
		if validID(p) && !seen[p] {
			seen[p] = true
			ids = append(ids, p)
		}
	}
	return ids
}

// confirm acknowledges stored messages. Retryable and permanent failures are
// returned; other refusals are ignored, since an unconfirmed message is only
// delivered again.
func (c *Channel) confirm(ctx context.Context, group string, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), confirmChunk)
		err := c.call(ctx, methodConfirm, map[string]string{
			"group_name": group, "s_message_ids": strings.Join(ids[:n], ","),
		}, nil)
		var re *connectors.RetryableError
		if errors.As(err, &re) || connectors.IsPermanent(err) {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Send cannot deliver: TOP has no public API to reply to buyers in real
// time.
func (c *Channel) Send(context.Context, connectors.OutboundMessage) (connectors.SendResult, error) {
	return connectors.SendResult{}, &connectors.PermanentError{
		Reason: "Taobao has no public API to reply to buyers in real time: answer this buyer in 千牛/旺旺 " +
			"(淘宝没有实时回复买家的开放接口，请在千牛/旺旺中回复)",
	}
}

// Test checks the app key, secret and the shop's session key
// (taobao.user.seller.get), then that messages are enabled for the shop
// (taobao.tmc.user.get), without which Sync would silently find nothing.
func (c *Channel) Test(ctx context.Context) error {
	var seller struct {
		User struct {
			Nick string `json:"nick"`
		} `json:"user"`
	}
	if err := c.call(ctx, "taobao.user.seller.get", map[string]string{"fields": "nick,user_id"}, &seller); err != nil {
		return err
	}
	nick := seller.User.Nick
	if nick == "" {
		return errors.New("taobao: the session key does not name a seller: authorise the app with the shop's main account")
	}
	var tu struct {
		TmcUser *struct {
			IsValid bool `json:"is_valid"`
		} `json:"tmc_user"`
	}
	if err := c.call(ctx, "taobao.tmc.user.get", map[string]string{
		"nick": nick, "fields": "user_nick,user_id,is_valid,topics",
	}, &tu); err != nil {
		return err
	}
	if tu.TmcUser == nil || !tu.TmcUser.IsValid {
		return fmt.Errorf("taobao: messages are not enabled for shop %q: call taobao.tmc.user.permit with the shop's session key", nick)
	}
	return nil
}
