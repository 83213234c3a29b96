package wechatfake

import (
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// The Official Account push crypto is package wxcrypto's (PLATFORMS.md;
// WeCom's scheme with the AppID as receiveid):
//
//	URL check and plain mode: signature = hex(sha1(sort(token, timestamp, nonce) joined))
//	safe mode:                Encrypt = base64(AES-256-CBC(random(16) + len(msg) + msg + AppID))
//	                          msg_signature = hex(sha1(sort(token, timestamp, nonce, Encrypt) joined))
//
// The connector opens pushes with the same package; what checks the crypto
// independently is wxcrypto's tests (a vector computed outside Go, and
// silenceper's util package).

// NewAESKey returns a random valid EncodingAESKey.
func NewAESKey() string { return wxcrypto.NewAESKey() }

// SignedPush is a push ready to POST: the query and the XML body.
type SignedPush struct {
	Query url.Values
	Body  []byte
}

// header is what a push's query names besides signatures: the sender.
type header struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
}

func peek(msgXML []byte) header {
	var h header
	_ = xml.Unmarshal(msgXML, &h)
	return h
}

// PlainPush signs msgXML as a plain-mode (明文模式) push:
// ?signature&timestamp&nonce&openid with the XML as the body.
func PlainPush(token string, ts time.Time, msgXML []byte) *SignedPush {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), wxcrypto.Nonce()
	return &SignedPush{
		Query: url.Values{
			"signature": {wxcrypto.Signature(token, timestamp, nonce)},
			"timestamp": {timestamp},
			"nonce":     {nonce},
			"openid":    {peek(msgXML).FromUserName},
		},
		Body: append([]byte(nil), msgXML...),
	}
}

// SafePush encrypts msgXML for appID and signs it as a safe-mode (安全模式)
// push: ?signature&timestamp&nonce&openid&encrypt_type=aes&msg_signature
// with <xml><ToUserName/><Encrypt/></xml> as the body.
func SafePush(token, encodingAESKey, appID string, ts time.Time, msgXML []byte) (*SignedPush, error) {
	enc, err := wxcrypto.Encrypt(encodingAESKey, appID, msgXML)
	if err != nil {
		return nil, err
	}
	h := peek(msgXML)
	return SignSafe(token, ts, h.ToUserName, h.FromUserName, enc), nil
}

// SignSafe wraps an Encrypt value in the outer XML and signs it.
func SignSafe(token string, ts time.Time, toUserName, openID, encrypt string) *SignedPush {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), wxcrypto.Nonce()
	body := "<xml><ToUserName>" + cdata(toUserName) + "</ToUserName><Encrypt>" + cdata(encrypt) + "</Encrypt></xml>"
	return &SignedPush{
		Query: url.Values{
			"signature":     {wxcrypto.Signature(token, timestamp, nonce)},
			"timestamp":     {timestamp},
			"nonce":         {nonce},
			"openid":        {openID},
			"encrypt_type":  {"aes"},
			"msg_signature": {wxcrypto.Signature(token, timestamp, nonce, encrypt)},
		},
		Body: []byte(body),
	}
}

// URLCheckQuery builds the 服务器配置 URL check's query for echostr.
func URLCheckQuery(token string, ts time.Time, echostr string) url.Values {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), wxcrypto.Nonce()
	return url.Values{
		"signature": {wxcrypto.Signature(token, timestamp, nonce)},
		"timestamp": {timestamp},
		"nonce":     {nonce},
		"echostr":   {echostr},
	}
}

// cdata wraps s in CDATA sections, splitting any "]]>" inside.
func cdata(s string) string {
	return "<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>"
}
