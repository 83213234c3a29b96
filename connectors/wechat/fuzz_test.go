package wechat

import (
	"encoding/xml"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wechat/wechatfake"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// FuzzParseMessage drives the push parser with arbitrary input in four
// modes, so that the fuzzer gets past the signatures:
//
//	mode 0: query and body as given, plain or safe channel (signatures
//	        almost always wrong);
//	mode 1: plain channel, body as given, signed correctly (fuzzes the
//	        message XML and the mapping);
//	mode 2: safe channel, body as given, msg_signature correct over its
//	        Encrypt (fuzzes base64 and AES decryption of arbitrary input);
//	mode 3: safe channel, inner encrypted for the right AppID and signed
//	        (fuzzes the decrypted XML).
//
// It must never panic, fail only with VerifyError or BadRequestError, and
// every event it returns must have an id and a sender and decode again
// from its Raw to the same event.
func FuzzParseMessage(f *testing.F) {
	const token, app = "FuzzT0ken", "wxfuzz0000000000"
	key := "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	plainSettings := map[string]string{"appId": app, "token": token}
	safeSettings := map[string]string{"appId": app, "token": token, "encodingAESKey": key}
	now := time.Unix(1763888400, 0)

	fake := wechatfake.New(app, "0123456789abcdef0123456789abcdef")
	fake.Close() // only its XML builders are used
	fake.SetClock(func() time.Time { return now })
	text := fake.UserSays("oFuzzUser", "你好 ]]> <b>")
	image := fake.UserSends("oFuzzUser", "image", "MEDIA")
	event := fake.UserEvent("oFuzzUser", "subscribe", "qrscene_1")
	report := fake.UserMessage("oFuzzUser", "event", map[string]string{"Event": "TEMPLATESENDJOBFINISH"})
	plain := wechatfake.PlainPush(token, now, text)
	safe, err := wechatfake.SafePush(token, key, app, now, image)
	if err != nil {
		f.Fatal(err)
	}

	f.Add(plain.Query.Encode(), plain.Body, []byte(nil), uint8(0))
	f.Add(safe.Query.Encode(), safe.Body, []byte(nil), uint8(0))
	f.Add("", text, []byte(nil), uint8(1))
	f.Add("", event, []byte(nil), uint8(1))
	f.Add("", report, []byte(nil), uint8(1))
	f.Add("", []byte("<xml><FromUserName>o</FromUserName><MsgType>event</MsgType><CreateTime>1</CreateTime></xml>"), []byte(nil), uint8(1))
	f.Add("", []byte("<xml><FromUserName>o</FromUserName><MsgType>location</MsgType><CreateTime>9</CreateTime><Location_X>NaN</Location_X></xml>"), []byte(nil), uint8(1))
	f.Add(safe.Query.Encode(), safe.Body, []byte(nil), uint8(2))
	f.Add("timestamp=1&nonce=2", []byte("<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"), []byte(nil), uint8(2))
	f.Add("", []byte(nil), image, uint8(3))
	f.Add("", []byte(nil), []byte("<xml><CreateTime>not a number</CreateTime></xml>"), uint8(3))
	f.Add("signature=&&&=%zz&encrypt_type=aes", []byte("<xml><Encrypt>"), []byte(nil), uint8(0))
	f.Add("encrypt_type=raw", []byte("\x00\xff<<<>>>"), []byte("\xff"), uint8(1))
	f.Add("", []byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>`), []byte(nil), uint8(1))

	f.Fuzz(func(t *testing.T, rawQuery string, body, inner []byte, mode uint8) {
		query, _ := url.ParseQuery(rawQuery)
		if query == nil {
			query = url.Values{}
		}
		var events []connectors.InboundEvent
		var err error
		switch mode % 4 {
		case 0:
			settings := plainSettings
			if len(body)%2 == 1 {
				settings = safeSettings
			}
			events, err = ParseMessage(settings, query, body)
		case 1:
			query.Del("encrypt_type")
			query.Set("signature", wxcrypto.Signature(token, query.Get("timestamp"), query.Get("nonce")))
			events, err = ParseMessage(plainSettings, query, body)
		case 2:
			var outer struct {
				Encrypt string `xml:"Encrypt"`
			}
			_ = xml.Unmarshal(body, &outer)
			query.Set("encrypt_type", "aes")
			query.Set("msg_signature", wxcrypto.Signature(token, query.Get("timestamp"), query.Get("nonce"), outer.Encrypt))
			events, err = ParseMessage(safeSettings, query, body)
		case 3:
			var random [16]byte
			copy(random[:], body)
			enc, encErr := wxcrypto.EncryptWithRandom(key, app, random, inner)
			if encErr != nil {
				t.Fatal(encErr)
			}
			p := wechatfake.SignSafe(token, now, "gh_fuzz", "oFuzz", enc)
			events, err = ParseMessage(safeSettings, p.Query, p.Body)
			if err == nil {
				// What was accepted is exactly what DecodeMessage accepts.
				direct, derr := DecodeMessage(inner)
				if derr != nil || len(direct) != len(events) {
					t.Fatalf("decrypted push accepted, but DecodeMessage(inner) = %v, %v", direct, derr)
				}
			}
		}
		var verr *connectors.VerifyError
		var berr *connectors.BadRequestError
		if err != nil {
			if !errors.As(err, &verr) && !errors.As(err, &berr) {
				t.Fatalf("error %v (%T) is neither VerifyError nor BadRequestError", err, err)
			}
			if events != nil {
				t.Fatalf("events %v with error %v", events, err)
			}
			return
		}
		if len(events) > 1 {
			t.Fatalf("%d events from one push", len(events))
		}
		for _, e := range events {
			if e.ExternalID == "" || e.Sender.ExternalID == "" || (e.Kind != connectors.KindMessage && e.Kind != connectors.KindEvent) {
				t.Fatalf("incomplete event %+v", e)
			}
			if e.Kind == connectors.KindEvent && e.EventType == "" {
				t.Fatalf("event without type %+v", e)
			}
			again, err := DecodeMessage(e.Raw)
			if err != nil || len(again) != 1 || again[0].ExternalID != e.ExternalID || again[0].Text != e.Text ||
				again[0].EventType != e.EventType || !again[0].SentAt.Equal(e.SentAt) {
				t.Fatalf("raw %q decodes to %+v, %v; want %+v", e.Raw, again, err, e)
			}
		}
	})
}
