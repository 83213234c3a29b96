package wecom

import (
	"encoding/xml"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wecom/wecomfake"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// FuzzParseCallback drives the callback parser with arbitrary input in
// three modes, so that the fuzzer gets past the signature:
//
//	mode 0: query and body as given (signature almost always wrong);
//	mode 1: body as given, signed correctly over its Encrypt (fuzzes
//	        base64 and AES decryption with arbitrary ciphertext);
//	mode 2: inner encrypted for the right receiveid and signed (fuzzes
//	        the decrypted XML); mode 3: inner as the URL check's echostr.
//
// It must never panic, and fail only with VerifyError or BadRequestError.
func FuzzParseCallback(f *testing.F) {
	const token, corp = "FuzzT0ken", "wwFuzzCorp"
	key := "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	now := time.Unix(1763888400, 0)
	valid, err := wecomfake.EncryptCallback(token, key, corp, now, wecomfake.KfEventXML(corp, "ENCtok", "wkFuzz", now))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Query.Encode(), valid.Body, []byte(nil), uint8(0))
	f.Add(valid.Query.Encode(), valid.Body, []byte(nil), uint8(1))
	f.Add("", valid.Body, wecomfake.KfEventXML(corp, "ENCtok", "wkFuzz", now), uint8(2))
	f.Add("", []byte(nil), []byte("<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event></xml>"), uint8(2))
	f.Add("", []byte(nil), []byte("<xml><CreateTime>not a number</CreateTime></xml>"), uint8(2))
	f.Add("", []byte(nil), []byte("echo-1234"), uint8(3))
	f.Add("msg_signature=zz&timestamp=1&nonce=2", []byte("<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"), []byte(nil), uint8(1))
	f.Add("msg_signature=&&&=%zz", []byte("<xml><Encrypt>"), []byte(nil), uint8(0))
	f.Add("", []byte("\x00\xff<<<>>>"), []byte("\xff"), uint8(2))
	f.Add("", []byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>`), []byte(nil), uint8(1))

	f.Fuzz(func(t *testing.T, rawQuery string, body, inner []byte, mode uint8) {
		query, _ := url.ParseQuery(rawQuery)
		if query == nil {
			query = url.Values{}
		}
		var err error
		switch mode % 4 {
		case 0:
			_, err = ParseCallback(token, key, corp, query, body)
		case 1:
			var outer struct {
				Encrypt string `xml:"Encrypt"`
			}
			_ = xml.Unmarshal(body, &outer)
			query.Set("msg_signature", wxcrypto.Signature(token, query.Get("timestamp"), query.Get("nonce"), outer.Encrypt))
			_, err = ParseCallback(token, key, corp, query, body)
		case 2:
			var random [16]byte
			copy(random[:], body)
			enc, encErr := wxcrypto.EncryptWithRandom(key, corp, random, inner)
			if encErr != nil {
				t.Fatal(encErr)
			}
			cb := wecomfake.SignCallback(token, corp, now, enc)
			var got *Callback
			got, err = ParseCallback(token, key, corp, cb.Query, cb.Body)
			if err == nil && got.Event == EventKfMsgOrEvent && (got.Token == "" || got.OpenKfID == "") {
				t.Fatalf("accepted a kf_msg_or_event without Token or OpenKfId: %+v", got)
			}
		case 3:
			q, qErr := wecomfake.URLCheckQuery(token, key, corp, now, string(inner))
			if qErr != nil {
				t.Fatal(qErr)
			}
			var echo string
			echo, err = VerifyURL(token, key, corp, q)
			if err == nil && echo != string(inner) {
				t.Fatalf("echo %q, want %q", echo, inner)
			}
			if len(inner) > 0 && err != nil {
				t.Fatalf("a valid URL check failed: %v", err)
			}
		}
		var verr *connectors.VerifyError
		var berr *connectors.BadRequestError
		if err != nil && !errors.As(err, &verr) && !errors.As(err, &berr) {
			t.Fatalf("error %v (%T) is neither VerifyError nor BadRequestError", err, err)
		}
	})
}
