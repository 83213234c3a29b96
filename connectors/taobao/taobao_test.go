package taobao

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/taobao/taobaofake"
	"github.com/kefuhub/kefuhub/models"
)

const (
	testAppKey  = "12345678"
	testSecret  = "app-secret-0123456789"
	testSession = "6100a30c6566785168b046a1534"
)

type opt func(*connectors.Config)

func withSetting(k, v string) opt { return func(c *connectors.Config) { c.Settings[k] = v } }

func setup(t *testing.T, opts ...opt) (*Channel, *taobaofake.Server) {
	t.Helper()
	fake := taobaofake.New(testAppKey, testSecret, testSession)
	t.Cleanup(fake.Close)
	cfg := connectors.Config{
		BaseURL: fake.GatewayURL(),
		Settings: map[string]string{
			"appKey": testAppKey, "appSecret": testSecret, "sessionKey": testSession,
			"groupName": "default", "signMethod": SignHMACSHA256,
		},
		HTTPClient: fake.Client(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ch.(*Channel), fake
}

func ids(evs []connectors.InboundEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ExternalID)
	}
	return out
}

func TestSpec(t *testing.T) {
	c := Connector()
	if c.Spec.Kind != models.ChannelTaobao {
		t.Fatalf("kind %s", c.Spec.Kind)
	}
	if got := c.Spec.SecretKeys(); !reflect.DeepEqual(got, []string{"appSecret", "sessionKey"}) {
		t.Fatalf("secret keys %v", got)
	}
	got, err := c.Spec.Normalize(map[string]any{"appKey": "12345678", "appSecret": "x", "sessionKey": "y"})
	if err != nil {
		t.Fatal(err)
	}
	if got["groupName"] != "default" || got["signMethod"] != "hmac-sha256" {
		t.Fatalf("defaults: %v", got)
	}
	for _, bad := range []map[string]any{
		{"appKey": "1", "appSecret": "x", "sessionKey": "y", "signMethod": "sha1"},
		{"appKey": "1", "appSecret": "x", "sessionKey": "y", "groupName": "a,b"},
		{"appKey": "1", "appSecret": "x"},
	} {
		if _, err := c.Spec.Normalize(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	if !strings.Contains(c.Spec.Setup, "taobao.tmc.user.permit") {
		t.Error("setup does not explain enabling messages")
	}
	ch, _ := setup(t)
	if ch.PollEvery() != 2*time.Second || !reflect.DeepEqual(ch.PollKeys(), []string{"default"}) {
		t.Fatalf("poller: %v %v", ch.PollEvery(), ch.PollKeys())
	}
	if _, err := New(connectors.Config{Settings: map[string]string{"appKey": "1"}}); err == nil {
		t.Fatal("New without secrets")
	}
}

func TestSyncMapsTopics(t *testing.T) {
	ch, fake := setup(t)
	const tid = uint64(4012345678901234567) // > 2^53: a float64 would round it
	pay := fake.Publish("taobao_trade_TradeBuyerPay", map[string]any{
		"tid": tid, "oid": tid + 1, "buyer_nick": "小明", "buyer_open_uid": "AAF1xYz_open",
		"seller_nick": taobaofake.SellerNick, "payment": "128.00", "status": "WAIT_SELLER_SEND_GOODS", "type": "fixed",
	})
	ship := fake.Publish("taobao_trade_TradeSellerShip", map[string]any{
		"tid": tid, "buyer_nick": "小明", "buyer_open_uid": "AAF1xYz_open", "status": "WAIT_BUYER_CONFIRM_GOODS",
	})
	refund := fake.Publish("taobao_refund_RefundCreated", map[string]any{
		"refund_id": uint64(9007199254740995), "tid": 1234, "oid": 1235, "refund_fee": "12.5",
		"refund_phase": "onsale", "bill_type": "refund_bill", "buyer_nick": "小红", "buyer_open_uid": "AAred",
		"seller_nick": taobaofake.SellerNick, "modified": "2026-11-23 10:00:00",
	})
	chat := fake.Publish(taobaofake.TopicChat, map[string]any{
		"buyer_nick": "小红", "content": "请问什么时候发货？", "direction": "c2b",
	})
	ownLine := fake.Publish(taobaofake.TopicChat, map[string]any{
		"buyer_nick": "小红", "content": "亲，今天发", "direction": "b2c",
	})
	other := fake.Publish("taobao_item_ItemUpdate", map[string]any{"num_iid": 1})
	noBuyer := fake.Publish("taobao_trade_TradeClose", map[string]any{"tid": 1})
	garbage := fake.PublishRaw("default", "taobao_trade_TradeCreate", "{not json")

	res, err := ch.Sync(context.Background(), "", connectors.SyncHint{Key: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{pay, ship, refund, chat}; !reflect.DeepEqual(ids(res.Events), want) {
		t.Fatalf("events %v, want %v", ids(res.Events), want)
	}
	if pay != "9007199254740993" {
		t.Fatalf("first id %s is not 2^53+1", pay)
	}
	// Every consumed message is confirmed next time, events or not.
	if want := strings.Join([]string{pay, ship, refund, chat, ownLine, other, noBuyer, garbage}, ","); res.Cursor != want {
		t.Fatalf("cursor %q, want %q", res.Cursor, want)
	}
	if res.More {
		t.Fatal("More on a short batch")
	}
	for i, tc := range []struct {
		kind      connectors.EventKind
		eventType string
		sender    connectors.Sender
		text      string
		ctx       map[string]any
	}{
		{connectors.KindEvent, "taobao_trade_TradeBuyerPay", connectors.Sender{ExternalID: "AAF1xYz_open", DisplayName: "小明"},
			"买家已付款 ¥128.00（订单 4012345678901234567）", map[string]any{
				"tid": "4012345678901234567", "oid": "4012345678901234568", "buyer_nick": "小明", "buyer_open_uid": "AAF1xYz_open",
				"seller_nick": taobaofake.SellerNick, "payment": "128.00", "status": "WAIT_SELLER_SEND_GOODS", "type": "fixed",
			}},
		{connectors.KindEvent, "taobao_trade_TradeSellerShip", connectors.Sender{ExternalID: "AAF1xYz_open", DisplayName: "小明"},
			"订单已发货（订单 4012345678901234567）", nil},
		{connectors.KindEvent, "taobao_refund_RefundCreated", connectors.Sender{ExternalID: "AAred", DisplayName: "小红"},
			"买家申请退款 ¥12.50（订单 1234）", map[string]any{
				"refund_id": "9007199254740995", "tid": "1234", "oid": "1235", "refund_fee": "12.5", "refund_phase": "onsale",
				"bill_type": "refund_bill", "buyer_nick": "小红", "buyer_open_uid": "AAred", "seller_nick": taobaofake.SellerNick,
				"modified": "2026-11-23 10:00:00",
			}},
		// No open uid: the nick is the identity.
		{connectors.KindMessage, "", connectors.Sender{ExternalID: "小红", DisplayName: "小红"}, "请问什么时候发货？", nil},
	} {
		ev := res.Events[i]
		if ev.Kind != tc.kind || ev.EventType != tc.eventType || ev.Sender != tc.sender || ev.Text != tc.text {
			t.Errorf("event %d: %+v", i, ev)
		}
		if tc.ctx != nil && !reflect.DeepEqual(ev.Context, tc.ctx) {
			t.Errorf("event %d context %#v, want %#v", i, ev.Context, tc.ctx)
		}
		if ev.SentAt.IsZero() || time.Since(ev.SentAt) > time.Minute || len(ev.Raw) == 0 {
			t.Errorf("event %d: sentAt %v, raw %q", i, ev.SentAt, ev.Raw)
		}
		if !strings.Contains(string(ev.Raw), ev.ExternalID) {
			t.Errorf("event %d raw %s lacks its id", i, ev.Raw)
		}
	}
}

func TestDecodeConsumeExactIDs(t *testing.T) {
	body := []byte(`{"tmc_messages_consume_response":{"messages":{"tmc_message":[
		{"id":5100300106180893741,"topic":"taobao_refund_RefundSuccess","pub_app_key":"12345678","pub_time":"2026-11-23 10:00:00",
		 "user_id":2200000000001,"user_nick":"shop",
		 "content":"{\"refund_id\":18446744073709551615,\"tid\":9007199254740993,\"refund_fee\":\"99\",\"buyer_open_uid\":\"u1\",\"buyer_nick\":\"n1\"}"},
		{"id":"9007199254740993","topic":"taobao_trade_TradeSuccess","pub_time":"bad","content":{"tid":7,"buyer_open_uid":"u2","payment":3.5,"num":2}}
	]}}}`)
	evs, err := DecodeConsume(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(evs); !reflect.DeepEqual(got, []string{"5100300106180893741", "9007199254740993"}) {
		t.Fatalf("ids %v", got)
	}
	if evs[0].Context["refund_id"] != "18446744073709551615" || evs[0].Context["tid"] != "9007199254740993" {
		t.Fatalf("context ids %#v", evs[0].Context)
	}
	if evs[0].Text != "退款成功 ¥99.00（订单 9007199254740993）" {
		t.Fatalf("text %q", evs[0].Text)
	}
	if want := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC); !evs[0].SentAt.Equal(want) {
		t.Fatalf("sentAt %v, want %v (GMT+8)", evs[0].SentAt, want)
	}
	if evs[1].Context["num"] != int64(2) || evs[1].Context["payment"] != 3.5 || !evs[1].SentAt.IsZero() {
		t.Fatalf("second %#v %v", evs[1].Context, evs[1].SentAt)
	}
	// An empty queue is an empty result.
	if evs, err := DecodeConsume([]byte(`{"tmc_messages_consume_response":{}}`)); err != nil || len(evs) != 0 {
		t.Fatalf("empty: %v %v", evs, err)
	}
	for _, bad := range []string{``, `[]`, `{"other_response":{}}`, `{"tmc_messages_consume_response":{"messages":{"tmc_message":7}}}`} {
		if _, err := DecodeConsume([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestConfirmOnNextSync(t *testing.T) {
	ch, fake := setup(t)
	ctx := context.Background()
	a := fake.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	b := fake.Publish("taobao_trade_TradeBuyerPay", map[string]any{"tid": 1, "buyer_open_uid": "u"})

	r1, err := ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Cursor != a+","+b || len(fake.Confirmed()) != 0 {
		t.Fatalf("after first sync: cursor %q, confirmed %v", r1.Cursor, fake.Confirmed())
	}
	c := fake.Publish("taobao_trade_TradeSuccess", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	r2, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{Key: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.Confirmed(); !reflect.DeepEqual(got, []string{a, b}) {
		t.Fatalf("confirmed %v", got)
	}
	if !reflect.DeepEqual(ids(r2.Events), []string{c}) || r2.Cursor != c {
		t.Fatalf("second sync %v %q", ids(r2.Events), r2.Cursor)
	}
	r3, err := ch.Sync(ctx, r2.Cursor, connectors.SyncHint{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Events) != 0 || r3.Cursor != "" || r3.More {
		t.Fatalf("third sync %+v", r3)
	}
	want := []string{
		"taobao.tmc.messages.consume",
		"taobao.tmc.messages.confirm", "taobao.tmc.messages.consume",
		"taobao.tmc.messages.confirm", "taobao.tmc.messages.consume",
	}
	if got := fake.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %v", got)
	}
	if got := fake.Confirmed(); !reflect.DeepEqual(got, []string{a, b, c}) || len(fake.Pending()) != 0 {
		t.Fatalf("confirmed %v pending %v", got, fake.Pending())
	}
}

func TestFullBatchSaysMore(t *testing.T) {
	ch, fake := setup(t)
	ctx := context.Background()
	for range 150 {
		fake.Publish("taobao_trade_TradeChanged", map[string]any{"tid": 1, "buyer_open_uid": "u", "status": "X"})
	}
	r1, err := ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil || len(r1.Events) != 100 || !r1.More {
		t.Fatalf("first page: %d events, more %v, %v", len(r1.Events), r1 != nil && r1.More, err)
	}
	r2, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{})
	if err != nil || len(r2.Events) != 50 || r2.More {
		t.Fatalf("second page: %d events, more %v, %v", len(r2.Events), r2.More, err)
	}
	if r2.Events[0].Text != "订单已变更：X（订单 1）" {
		t.Fatalf("text %q", r2.Events[0].Text)
	}
	if _, err := ch.Sync(ctx, r2.Cursor, connectors.SyncHint{}); err != nil {
		t.Fatal(err)
	}
	if len(fake.Confirmed()) != 150 {
		t.Fatalf("confirmed %d", len(fake.Confirmed()))
	}
}

func TestFailedSyncLeavesMessagesUnconfirmed(t *testing.T) {
	ch, fake := setup(t)
	ctx := context.Background()
	fake.SetVisibilityTimeout(time.Minute)
	a := fake.Publish("taobao_refund_RefundCreated", map[string]any{"tid": 1, "refund_fee": "1", "buyer_open_uid": "u"})
	b := fake.Publish("taobao_refund_RefundClosed", map[string]any{"tid": 1, "buyer_open_uid": "u"})

	r1, err := ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil {
		t.Fatal(err)
	}
	// The confirm of the next sync fails: nothing is confirmed, the error
	// is retryable, and the hub keeps r1.Cursor.
	fake.FailNext("taobao.tmc.messages.confirm", 1, taobaofake.Failure{HTTPStatus: 503})
	if _, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{}); !isRetryable(err) {
		t.Fatalf("err %v, want retryable", err)
	}
	if len(fake.Confirmed()) != 0 || !reflect.DeepEqual(fake.Pending(), []string{a, b}) {
		t.Fatalf("confirmed %v pending %v", fake.Confirmed(), fake.Pending())
	}
	// A consumer that lost the cursor (the hub crashed before storing)
	// sees nothing while the messages are in flight...
	r, err := ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil || len(r.Events) != 0 {
		t.Fatalf("in flight: %v %v", r, err)
	}
	// ...and gets them again, same ids, once the visibility timeout ends.
	fake.Advance(2 * time.Minute)
	r, err = ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(r.Events), []string{a, b}) || fake.Deliveries(a) != 2 {
		t.Fatalf("redelivered %v (deliveries %d)", ids(r.Events), fake.Deliveries(a))
	}
	// The retry with the kept cursor confirms them.
	if _, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fake.Confirmed(), []string{a, b}) {
		t.Fatalf("confirmed %v", fake.Confirmed())
	}
}

func TestUnstoredBatchIsRedelivered(t *testing.T) {
	ch, fake := setup(t) // visibility 0: the next consume without a confirm
	ctx := context.Background()
	a := fake.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	for range 2 {
		r, err := ch.Sync(ctx, "", connectors.SyncHint{})
		if err != nil || !reflect.DeepEqual(ids(r.Events), []string{a}) {
			t.Fatalf("%v %v", r, err)
		}
	}
	if fake.Deliveries(a) != 2 || len(fake.Confirmed()) != 0 {
		t.Fatalf("deliveries %d confirmed %v", fake.Deliveries(a), fake.Confirmed())
	}
}

func TestConsumeFailsAfterConfirm(t *testing.T) {
	ch, fake := setup(t)
	ctx := context.Background()
	a := fake.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	r1, err := ch.Sync(ctx, "", connectors.SyncHint{})
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext("taobao.tmc.messages.consume", 1, taobaofake.Failure{Code: 15, Msg: "Remote service error", SubCode: "isp.top-remote-connection-timeout"})
	if _, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{}); !isRetryable(err) {
		t.Fatalf("err %v", err)
	}
	// Confirming the same ids again is harmless.
	r, err := ch.Sync(ctx, r1.Cursor, connectors.SyncHint{})
	if err != nil || len(r.Events) != 0 || r.Cursor != "" {
		t.Fatalf("%v %v", r, err)
	}
	if !reflect.DeepEqual(fake.Confirmed(), []string{a}) {
		t.Fatalf("confirmed %v", fake.Confirmed())
	}
}

func TestConfirmRefusalDoesNotStopSync(t *testing.T) {
	ch, fake := setup(t)
	b := fake.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	fake.FailNext("taobao.tmc.messages.confirm", 1, taobaofake.Failure{Code: 15, Msg: "Remote service error", SubCode: "isv.message-not-exist"})
	r, err := ch.Sync(context.Background(), "123,not-an-id,456", connectors.SyncHint{})
	if err != nil || !reflect.DeepEqual(ids(r.Events), []string{b}) {
		t.Fatalf("%v %v", r, err)
	}
}

func TestCustomGroup(t *testing.T) {
	ch, fake := setup(t, withSetting("groupName", "kefu"))
	fake.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1, "buyer_open_uid": "u"})
	k := fake.PublishTo("kefu", "taobao_trade_TradeCreate", map[string]any{"tid": 2, "buyer_open_uid": "u"})
	if !reflect.DeepEqual(ch.PollKeys(), []string{"kefu"}) {
		t.Fatal(ch.PollKeys())
	}
	r, err := ch.Sync(context.Background(), "", connectors.SyncHint{Key: "kefu"})
	if err != nil || !reflect.DeepEqual(ids(r.Events), []string{k}) {
		t.Fatalf("%v %v", r, err)
	}
}

func isRetryable(err error) bool {
	var re *connectors.RetryableError
	return errors.As(err, &re)
}

func TestErrorMapping(t *testing.T) {
	type want int
	const (
		retryable want = iota
		permanent
		apiError
	)
	for _, tc := range []struct {
		name  string
		arm   func(*taobaofake.Server)
		want  want
		after time.Duration
		code  int
	}{
		{"call limit with ban", func(f *taobaofake.Server) { f.SetRateLimit(71) }, retryable, 71 * time.Second, 0},
		{"call limit without wait", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 7, Msg: "App Call Limited"})
		}, retryable, time.Second, 0},
		{"isp failure", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 15, Msg: "Remote service error", SubCode: "isp.unknown-error"})
		}, retryable, time.Second, 0},
		{"5xx", func(f *taobaofake.Server) { f.SetHTTPStatus(502) }, retryable, time.Second, 0},
		{"invalid session", func(f *taobaofake.Server) { f.RevokeSession() }, permanent, 0, 0},
		{"missing session", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 26, Msg: "Missing session"})
		}, permanent, 0, 0},
		{"app permission", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 11, Msg: "Insufficient isv permissions", SubCode: "isv.permission-api-package-limit"})
		}, permanent, 0, 0},
		{"user permission", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 12, Msg: "Insufficient user permissions"})
		}, permanent, 0, 0},
		{"business error", func(f *taobaofake.Server) {
			f.FailNext("", 1, taobaofake.Failure{Code: 15, Msg: "Remote service error", SubCode: "isv.invalid-parameter", SubMsg: "group不存在"})
		}, apiError, 0, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, fake := setup(t)
			tc.arm(fake)
			_, err := ch.Sync(context.Background(), "", connectors.SyncHint{})
			var re *connectors.RetryableError
			var pe *connectors.PermanentError
			var ae *APIError
			switch tc.want {
			case retryable:
				if !errors.As(err, &re) || re.After != tc.after {
					t.Fatalf("err %v (%T), want retryable after %v", err, err, tc.after)
				}
			case permanent:
				if !errors.As(err, &pe) {
					t.Fatalf("err %v (%T), want permanent", err, err)
				}
			case apiError:
				if errors.As(err, &re) || errors.As(err, &pe) || !errors.As(err, &ae) || ae.Code != tc.code {
					t.Fatalf("err %v (%T), want APIError %d", err, err, tc.code)
				}
				if !strings.Contains(err.Error(), "isv.invalid-parameter") || !strings.Contains(err.Error(), "group不存在") {
					t.Fatalf("message %q", err)
				}
			}
		})
	}
	t.Run("network", func(t *testing.T) {
		ch, fake := setup(t)
		fake.Close()
		if _, err := ch.Sync(context.Background(), "", connectors.SyncHint{}); !isRetryable(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("session revoked on every entry point", func(t *testing.T) {
		ch, fake := setup(t)
		fake.RevokeSession()
		if err := ch.Test(context.Background()); !connectors.IsPermanent(err) || !strings.Contains(err.Error(), "sessionKey") {
			t.Fatalf("Test: %v", err)
		}
		if _, err := ch.LogisticsTrace(context.Background(), "1"); !connectors.IsPermanent(err) {
			t.Fatalf("LogisticsTrace: %v", err)
		}
	})
}

func TestSendIsPermanent(t *testing.T) {
	ch, fake := setup(t)
	_, err := ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: "d1", Recipient: "AAF1", Text: "hi"})
	var pe *connectors.PermanentError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "千牛") {
		t.Fatalf("err %v", err)
	}
	if len(fake.Calls()) != 0 {
		t.Fatalf("Send called the gateway: %v", fake.Calls())
	}
}

func TestLogisticsTrace(t *testing.T) {
	ch, fake := setup(t, withSetting("signMethod", SignMD5))
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	fake.SetTrace("4012345678901234567", taobaofake.Trace{
		CompanyName: "顺丰速运", OutSid: "SF1234567890", Status: "在途中",
		Steps: []taobaofake.TraceStep{
			{Time: at, Desc: "已揽件", Action: "GOT"},
			{Time: at.Add(3 * time.Hour), Desc: "到达杭州转运中心", Action: "ARRIVAL"},
		},
	})
	got, err := ch.LogisticsTrace(context.Background(), "4012345678901234567")
	if err != nil {
		t.Fatal(err)
	}
	want := &Trace{Tid: "4012345678901234567", CompanyName: "顺丰速运", OutSid: "SF1234567890", Status: "在途中",
		Steps: []TraceStep{{Time: at, Desc: "已揽件", Action: "GOT"}, {Time: at.Add(3 * time.Hour), Desc: "到达杭州转运中心", Action: "ARRIVAL"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trace %+v, want %+v", got, want)
	}
	var ae *APIError
	if _, err := ch.LogisticsTrace(context.Background(), "42"); !errors.As(err, &ae) || ae.Code != 15 {
		t.Fatalf("unknown tid: %v", err)
	}
	if _, err := ch.LogisticsTrace(context.Background(), "12a"); err == nil {
		t.Fatal("accepted a bad tid")
	}
	if c := fake.Calls(); !slices.Equal(c, []string{"taobao.logistics.trace.search", "taobao.logistics.trace.search"}) {
		t.Fatalf("calls %v", c)
	}
}

func TestTest(t *testing.T) {
	for _, m := range []string{SignMD5, SignHMAC, SignHMACSHA256} {
		t.Run("ok "+m, func(t *testing.T) {
			ch, fake := setup(t, withSetting("signMethod", m))
			if err := ch.Test(context.Background()); err != nil {
				t.Fatal(err)
			}
			if fake.Rejected() != 0 {
				t.Fatal("rejected")
			}
		})
	}
	t.Run("bad secret", func(t *testing.T) {
		ch, _ := setup(t, withSetting("appSecret", "wrong"))
		err := ch.Test(context.Background())
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != 25 || !strings.Contains(err.Error(), "check appSecret") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad app key", func(t *testing.T) {
		ch, _ := setup(t, withSetting("appKey", "87654321"))
		var ae *APIError
		if err := ch.Test(context.Background()); !errors.As(err, &ae) || ae.Code != 29 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("clock off", func(t *testing.T) {
		ch, _ := setup(t, func(c *connectors.Config) {
			c.Now = func() time.Time { return time.Now().Add(-11 * time.Minute) }
		})
		var ae *APIError
		if err := ch.Test(context.Background()); !errors.As(err, &ae) || ae.Code != 31 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("messages not enabled", func(t *testing.T) {
		ch, fake := setup(t)
		fake.SetPermitted(false)
		if err := ch.Test(context.Background()); err == nil || !strings.Contains(err.Error(), "taobao.tmc.user.permit") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"9007199254740993", []string{"9007199254740993"}},
		{" 1, 2 ,x,,2,123456789012345678901", []string{"1", "2"}},
	} {
		if got := ParseCursor(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCursor(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
