package dingtalkbot

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
)

func TestVerify(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	good := Sign("secret", ts)
	tests := []struct {
		name, ts, sign string
		at             time.Time
		ok             bool
	}{
		{"valid", ts, good, now, true},
		{"59 minutes later", ts, good, now.Add(59 * time.Minute), true},
		{"61 minutes later", ts, good, now.Add(61 * time.Minute), false},
		{"wrong sign", ts, Sign("other", ts), now, false},
		{"no sign", ts, "", now, false},
		{"bad timestamp", "soon", good, now, false},
	}
	for _, tt := range tests {
		if err := Verify("secret", tt.ts, tt.sign, tt.at); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"msgtype":"text","text":{"content":" 查工单 T-1"},"senderStaffId":"s","sessionWebhook":"https://oapi.dingtalk.com/robot/sendBySession?session=x"}`))
	f.Add([]byte(`{"msgtype":"picture"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := Decode(body)
		var bad *connectors.BadRequestError
		if err != nil && !errors.As(err, &bad) {
			t.Fatalf("error %T is not a BadRequestError", err)
		}
		if msg != nil && msg.ReplyTo == "" {
			t.Fatal("a message without a session to answer on was accepted")
		}
	})
}
