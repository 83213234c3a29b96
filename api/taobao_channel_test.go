package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/taobao/taobaofake"
	"github.com/kefuhub/kefuhub/models"
)

// TestTaobaoChannelEndToEnd: a refund opened in the shop reaches the agent
// as a conversation event with the order attached, keyed on the buyer's
// open uid; the messages are confirmed to TMC only after they are stored;
// a platform outage loses nothing.
func TestTaobaoChannelEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id secretKeys settings } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "TAOBAO", "name": "淘宝旗舰店", "settings": map[string]any{
				"appKey": taobaoAppKey, "appSecret": taobaoSecret, "sessionKey": taobaoSession, "groupName": "default"}}})
		chID := str(d, "createChannel", "channel", "id")
		if keys := get(d, "createChannel", "channel", "secretKeys").([]any); len(keys) != 2 {
			t.Errorf("secretKeys = %v, want appSecret and sessionKey", keys)
		}
		d = e.must(e.adminA, `mutation($id: ID!) { testChannel(input: {id: $id}) { ok error } }`, map[string]any{"id": chID})
		if get(d, "testChannel", "ok") != true {
			t.Fatalf("testChannel: %v", d)
		}

		refund := e.taobao.Publish("taobao_refund_RefundCreated", map[string]any{
			"refund_id": 9007199254740993, "tid": 2345678901234567890, "oid": 2345678901234567891, "refund_fee": "12.50",
			"refund_phase": "aftersale", "buyer_nick": "小明", "buyer_open_uid": "AAHmZ3xYz", "seller_nick": "旗舰店"})

		// The platform is down: nothing is stored, nothing confirmed.
		e.taobao.SetHTTPStatus(502)
		if n, err := e.hub.SyncChannel(context.Background(), e.channelRecord(chID), e.taobaoHint()); err == nil || n != 0 {
			t.Fatalf("sync against a down gateway: %d, %v", n, err)
		}
		e.taobao.SetHTTPStatus(0)
		if n, err := e.hub.SyncChannel(context.Background(), e.channelRecord(chID), e.taobaoHint()); err != nil || n != 1 {
			t.Fatalf("sync: stored %d, %v", n, err)
		}
		if got := e.taobao.Confirmed(); len(got) != 0 {
			t.Errorf("confirmed %v before the next sync", got)
		}
		// The next sync confirms what the previous one stored.
		if _, err := e.hub.SyncChannel(context.Background(), e.channelRecord(chID), e.taobaoHint()); err != nil {
			t.Fatal(err)
		}
		if got := e.taobao.Confirmed(); len(got) != 1 || got[0] != refund {
			t.Errorf("confirmed %v, want [%s]", got, refund)
		}
		d = e.must(e.adminA, `{ conversations { nodes { customer { name identities { externalId } } lastMessage { text } messages { nodes { contentType externalId metadata } } } } }`, nil)
		conv := get(d, "conversations", "nodes", 0)
		if str(conv, "customer", "identities", 0, "externalId") != "AAHmZ3xYz" || str(conv, "customer", "name") != "小明" {
			t.Errorf("customer: %v", get(conv, "customer"))
		}
		if str(conv, "messages", "nodes", 0, "externalId") != refund || !strings.Contains(str(conv, "messages", "nodes", 0, "contentType"), "taobao_refund_RefundCreated") {
			t.Errorf("event message: %v", get(conv, "messages"))
		}
		if str(conv, "messages", "nodes", 0, "metadata", "refund_fee") != "12.50" {
			t.Errorf("order context not attached: %v", get(conv, "messages", "nodes", 0))
		}

		// Where is the parcel?
		e.taobao.SetTrace("2345678901234567890", taobaofake.Trace{CompanyName: "顺丰速运", OutSid: "SF1234567890", Status: "在途",
			Steps: []taobaofake.TraceStep{{Time: time.Now().Add(-24 * time.Hour), Desc: "已揽收"}, {Time: time.Now().Add(-time.Hour), Desc: "到达杭州转运中心"}}})
		d = e.must(e.adminA, `query($c: ID!) { parcelTrace(channelId: $c, orderId: "2345678901234567890") { carrier trackingNo status steps { at description } } }`,
			map[string]any{"c": chID})
		tr := get(d, "parcelTrace")
		if str(tr, "carrier") != "顺丰速运" || str(tr, "trackingNo") != "SF1234567890" || str(tr, "steps", 1, "description") != "到达杭州转运中心" || get(tr, "steps", 0, "at") == nil {
			t.Errorf("parcelTrace: %v", tr)
		}
		// Channels without parcel data say so.
		web := e.createChannel(e.adminA, "WEB", "官网", nil)
		r := e.do(e.adminA, `query($c: ID!) { parcelTrace(channelId: $c, orderId: "1") { carrier } }`, map[string]any{"c": web})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("parcelTrace on a WEB channel: %s", r.Raw)
		}
	})
}

// channelRecord reads a channel row by its global ID.
func (e *env) channelRecord(gid string) *models.Channel {
	e.t.Helper()
	id, err := models.DecodeIDOf(models.TypeChannel, gid)
	if err != nil {
		e.t.Fatal(err)
	}
	ch := &models.Channel{}
	if err := e.store.DB.Where("id = ?", id).Take(ch).Error; err != nil {
		e.t.Fatal(err)
	}
	return ch
}

func (e *env) taobaoHint() connectors.SyncHint { return connectors.SyncHint{Key: "default"} }
