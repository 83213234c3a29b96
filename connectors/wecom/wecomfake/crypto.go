package wecomfake

import (
	"net/url"
	"strconv"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// The WeCom callback crypto is package wxcrypto's (see PLATFORMS.md), with
// the CorpID as receiveid:
//
//	Encrypt       = base64(AES-256-CBC(random(16) + len(msg) + msg + CorpID))
//	msg_signature = hex(sha1(sort(token, timestamp, nonce, Encrypt) joined))
//
// The connector opens callbacks with the same package; what checks the
// crypto independently is wxcrypto's tests (a vector computed outside Go,
// and silenceper's util package).

// NewAESKey returns a random valid EncodingAESKey.
func NewAESKey() string { return wxcrypto.NewAESKey() }

// SignedCallback is an encrypted callback ready to POST: the query
// (msg_signature, timestamp, nonce) and the XML body.
type SignedCallback struct {
	Query url.Values
	Body  []byte
}

// EncryptCallback encrypts plaintext XML for corpID and signs it with token,
// as WeCom POSTs a callback.
func EncryptCallback(token, encodingAESKey, corpID string, ts time.Time, plaintext []byte) (*SignedCallback, error) {
	enc, err := wxcrypto.Encrypt(encodingAESKey, corpID, plaintext)
	if err != nil {
		return nil, err
	}
	return SignCallback(token, corpID, ts, enc), nil
}

// SignCallback wraps an Encrypt value in the outer XML and signs it.
func SignCallback(token, corpID string, ts time.Time, encrypt string) *SignedCallback {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), wxcrypto.Nonce()
	body := "<xml><ToUserName><![CDATA[" + corpID + "]]></ToUserName>" +
		"<Encrypt><![CDATA[" + encrypt + "]]></Encrypt>" +
		"<AgentID><![CDATA[]]></AgentID></xml>"
	return &SignedCallback{
		Query: url.Values{
			"msg_signature": {wxcrypto.Signature(token, timestamp, nonce, encrypt)},
			"timestamp":     {timestamp},
			"nonce":         {nonce},
		},
		Body: []byte(body),
	}
}

// KfEventXML is the decrypted kf_msg_or_event callback.
func KfEventXML(corpID, kfToken, openKfID string, ts time.Time) []byte {
	return []byte("<xml><ToUserName><![CDATA[" + corpID + "]]></ToUserName>" +
		"<CreateTime>" + strconv.FormatInt(ts.Unix(), 10) + "</CreateTime>" +
		"<MsgType><![CDATA[event]]></MsgType>" +
		"<Event><![CDATA[kf_msg_or_event]]></Event>" +
		"<Token><![CDATA[" + kfToken + "]]></Token>" +
		"<OpenKfId><![CDATA[" + openKfID + "]]></OpenKfId></xml>")
}

// URLCheckQuery builds the GET URL verification query for plain echostr.
func URLCheckQuery(token, encodingAESKey, corpID string, ts time.Time, plain string) (url.Values, error) {
	echostr, err := wxcrypto.Encrypt(encodingAESKey, corpID, []byte(plain))
	if err != nil {
		return nil, err
	}
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), wxcrypto.Nonce()
	return url.Values{
		"msg_signature": {wxcrypto.Signature(token, timestamp, nonce, echostr)},
		"timestamp":     {timestamp},
		"nonce":         {nonce},
		"echostr":       {echostr},
	}, nil
}
