package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/connectors/app/appfake"
	"github.com/kefuhub/kefuhub/connectors/taobao/taobaofake"
	"github.com/kefuhub/kefuhub/connectors/wecom/wecomfake"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

// demoCmd runs kefuhub against fake WeCom, Taobao and app platforms with
// simulated customers writing in, so that a newcomer sees conversations
// arrive in GraphiQL within a minute. Agent replies really travel to the
// fakes and back.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub demo", "kefuhub demo [-every 3s] [flags]", stderr)
	every := fs.Duration("every", 3*time.Second, "how often a simulated customer writes")
	resolve := registerSettings(fs)
	// A fresh database each run, unless one is named: the fake platforms
	// start empty every time.
	dir, err := os.MkdirTemp("", "kefuhub-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := fs.Parse(append([]string{"-database-url", "sqlite://" + filepath.Join(dir, "demo.db")}, args...)); err != nil {
		return err
	}
	cfg := resolve()

	const (
		corpID, corpSecret      = "wwdemo0000000001", "demo-wecom-secret"
		kfToken, openKf         = "demoCallbackToken", "wkDEMO0001"
		appKey, appSecret, sess = "10000001", "demo-taobao-secret", "demo-session"
		appChannelSecret        = "demo-app-channel-secret"
	)
	wecom := wecomfake.New(corpID, corpSecret)
	defer wecom.Close()
	taobao := taobaofake.New(appKey, appSecret, sess)
	defer taobao.Close()
	appBackend := appfake.New(appChannelSecret)
	defer appBackend.Close()
	cfg.values["wecom-api-base"] = wecom.URL
	cfg.values["taobao-gateway"] = taobao.GatewayURL()

	ln, err := net.Listen("tcp", cfg.str("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.values["public-url"] = "http://" + displayAddr(ln.Addr())
	a, err := open(ctx, cfg, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	if err := bootstrap(ctx, a, stdout); err != nil {
		return err
	}
	tenant, err := a.hub.TenantBySlug(ctx, "default")
	if err != nil {
		return err
	}
	sys := hub.WithPrincipal(ctx, hub.System(tenant.ID))
	aesKey := wecomfake.NewAESKey()
	channels := map[models.ChannelKind]*models.Channel{}
	for _, c := range []models.CreateChannelInput{
		{Kind: models.ChannelWeComKF, Name: "演示·企业微信客服", Settings: map[string]any{
			"corpId": corpID, "secret": corpSecret, "token": kfToken, "encodingAESKey": aesKey, "openKfId": openKf}},
		{Kind: models.ChannelTaobao, Name: "演示·淘宝旗舰店", Settings: map[string]any{
			"appKey": appKey, "appSecret": appSecret, "sessionKey": sess}},
		{Kind: models.ChannelApp, Name: "演示·官方App", Settings: map[string]any{
			"secret": appChannelSecret, "replyUrl": appBackend.ReplyURL()}},
	} {
		ch, err := a.hub.CreateChannel(sys, c)
		if err != nil {
			return fmt.Errorf("demo: create %s channel: %w", c.Kind, err)
		}
		channels[c.Kind] = ch
	}
	a.hub.StartDispatcher(hub.DispatchConfig{})
	a.hub.StartPolling()
	fmt.Fprintf(stdout, "kefuhub demo: GraphiQL at %s/ — simulated customers write in every %s on WeCom, Taobao and the app.\n",
		cfg.str("public-url"), *every)
	fmt.Fprintln(stdout, `Try: { conversations(first: 20) { nodes { number channel { kind } customer { name } lastMessage { text } } } }`)

	go simulateCustomers(ctx, a, *every, channels, wecom, taobao, kfToken, aesKey, corpID, openKf, appChannelSecret)
	return serveHTTP(ctx, a, ln, api.New(a.hub, api.Options{Logger: a.log}), 10*time.Second)
}

var demoCustomers = []struct{ name, phone string }{
	{"王芳", "13912345601"}, {"李娜", "13812345602"}, {"张伟", "13712345603"}, {"刘洋", "15012345604"},
	{"陈静", "15112345605"}, {"杨磊", "18612345606"}, {"赵敏", "18812345607"}, {"黄强", "13612345608"},
}

var demoLines = []string{
	"你好，我的快递到哪了？", "收到的商品有破损，可以退换吗？", "请问什么时候发货？", "发票怎么开？",
	"优惠券用不了", "能改一下收货地址吗？", "这个尺码偏大还是偏小？", "退款什么时候到账？",
}

// simulateCustomers makes a random customer write on a random channel
// every tick until ctx ends.
func simulateCustomers(ctx context.Context, a *app, every time.Duration, channels map[models.ChannelKind]*models.Channel,
	wecom *wecomfake.Server, taobao *taobaofake.Server, kfToken, aesKey, corpID, openKf, appSecret string) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c := demoCustomers[rand.IntN(len(demoCustomers))]
		line := demoLines[rand.IntN(len(demoLines))]
		var err error
		switch rand.IntN(3) {
		case 0:
			wecom.CustomerSays(openKf, "wm"+c.phone, line)
			_, err = wecom.Notify(ctx, a.hub.WebhookURL(channels[models.ChannelWeComKF]), kfToken, aesKey, corpID, openKf)
		case 1:
			taobao.Publish("taobao_refund_RefundCreated", map[string]any{
				"refund_id": 9000000000000000 + n, "tid": 3000000000000000 + n, "refund_fee": fmt.Sprintf("%d.00", 10+rand.IntN(300)),
				"refund_phase": "aftersale", "buyer_nick": c.name, "buyer_open_uid": "AAH" + c.phone, "seller_nick": "演示旗舰店"})
		default:
			var resp *http.Response
			resp, _, err = appfake.Send(ctx, nil, a.hub.WebhookURL(channels[models.ChannelApp]), appSecret, appfake.Event{
				ID: fmt.Sprintf("demo-%d-%d", time.Now().Unix(), n), Type: "message", Text: line,
				User: appfake.User{ID: "app-" + c.phone, Name: c.name, Phone: c.phone}})
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "closed") {
			a.log.Warn("demo: simulated customer", "err", err)
		}
	}
}
