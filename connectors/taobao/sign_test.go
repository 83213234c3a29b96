package taobao

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func TestSignVectors(t *testing.T) {
	// The parameters of TOP's signing example (secret "helloworld").
	base := func(method string) url.Values {
		return url.Values{
			"method": {"taobao.item.seller.get"}, "app_key": {"12345678"}, "session": {"test"},
			"timestamp": {"2016-01-01 12:00:00"}, "format": {"json"}, "v": {"2.0"}, "sign_method": {method},
			"fields": {"num_iid,title,nick,price,num"}, "num_iid": {"11223344"},
			// Neither an empty value nor sign itself is signed.
			"empty": {""}, "sign": {"WHATEVER"},
		}
	}
	// Sorted by name, concatenated name+value, empty and sign left out.
	concat := func(method string) string {
		return "app_key12345678" + "fieldsnum_iid,title,nick,price,num" + "formatjson" +
			"methodtaobao.item.seller.get" + "num_iid11223344" + "sessiontest" + "sign_method" + method +
			"timestamp2016-01-01 12:00:00" + "v2.0"
	}
	const secret = "helloworld"
	byHand := map[string]func(s string) string{
		SignMD5: func(s string) string {
			sum := md5.Sum([]byte(secret + s + secret))
			return strings.ToUpper(hex.EncodeToString(sum[:]))
		},
		SignHMAC: func(s string) string {
			h := hmac.New(md5.New, []byte(secret))
			h.Write([]byte(s))
			return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
		},
		SignHMACSHA256: func(s string) string {
			h := hmac.New(sha256.New, []byte(secret))
			h.Write([]byte(s))
			return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
		},
	}
	for _, tc := range []struct {
		method string
		want   string // computed apart (Python hashlib) over concat(method)
	}{
		{SignMD5, "66987CB115214E59E6EC978214934FB8"},
		{SignHMAC, "D56D7858309C31B6251083A874D48273"},
		{SignHMACSHA256, "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if got := byHand[tc.method](concat(tc.method)); got != tc.want {
				t.Fatalf("by hand = %s, want %s", got, tc.want)
			}
			if got := Sign(base(tc.method), secret, tc.method); got != tc.want {
				t.Fatalf("Sign = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSignUnicodeAndUnknownMethod(t *testing.T) {
	p := url.Values{
		"method": {"taobao.tmc.messages.confirm"}, "app_key": {"12345678"}, "session": {"会话"},
		"timestamp": {"2026-11-23 10:00:00"}, "format": {"json"}, "v": {"2.0"}, "sign_method": {"hmac-sha256"},
		"group_name": {"default"}, "s_message_ids": {"9007199254740993,9007199254740994"},
	}
	const want = "3D3F2E219BFDDBD102F5B60B4E2B6F4DAAA65A378C36F688166357441FEB3354"
	if got := Sign(p, "s3cr3t", SignHMACSHA256); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if got := Sign(p, "s3cr3t", "sha1"); got != "" {
		t.Fatalf("unknown method signed: %q", got)
	}
}
