package wecom

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/silenceper/wechat/v2/util"
	"github.com/silenceper/wechat/v2/work/kf"

	"github.com/kefuhub/kefuhub/connectors"
)

// Callback is a decrypted 微信客服 callback (silenceper's type: ToUserName,
// CreateTime, MsgType, Event, Token, OpenKfID).
type Callback = kf.CallbackMessage

// EventKfMsgOrEvent is the callback event saying messages wait in sync_msg.
const EventKfMsgOrEvent = "kf_msg_or_event"

// ParseCallback verifies and decrypts a POSTed callback. It is the parser
// the fuzz test drives: its errors are *connectors.VerifyError (signature
// mismatch, undecryptable payload, receiveid other than corpID) or
// *connectors.BadRequestError (malformed XML), except for a misconfigured
// aesKey.
//
// silenceper's kf.Client.GetCallbackMessage does not check msg_signature,
// so only its pure helpers (util.Signature, util.AESDecryptMsg) are used.
func ParseCallback(token, aesKey, corpID string, query url.Values, body []byte) (*Callback, error) {
	key, err := decodeAESKey(aesKey)
	if err != nil {
		return nil, err
	}
	var outer struct {
		ToUserName string `xml:"ToUserName"`
		AgentID    string `xml:"AgentID"`
		Encrypt    string `xml:"Encrypt"`
	}
	if err := xml.Unmarshal(body, &outer); err != nil {
		return nil, &connectors.BadRequestError{Reason: "body is not the callback XML"}
	}
	if outer.Encrypt == "" {
		return nil, &connectors.BadRequestError{Reason: "callback XML has no Encrypt"}
	}
	if err := checkSignature(query, token, outer.Encrypt); err != nil {
		return nil, err
	}
	plain, err := decrypt(key, corpID, outer.Encrypt)
	if err != nil {
		return nil, err
	}
	var cb Callback
	if err := xml.Unmarshal(plain, &cb); err != nil {
		return nil, &connectors.BadRequestError{Reason: "decrypted callback is not valid XML"}
	}
	if cb.Event == EventKfMsgOrEvent && (cb.Token == "" || cb.OpenKfID == "") {
		return nil, &connectors.BadRequestError{Reason: "kf_msg_or_event callback without Token or OpenKfId"}
	}
	return &cb, nil
}

// VerifyURL answers the admin console's URL check (GET
// ?msg_signature&timestamp&nonce&echostr): it verifies the signature over
// token, timestamp, nonce and echostr, decrypts echostr, and returns the
// plaintext to answer, bare.
func VerifyURL(token, aesKey, corpID string, query url.Values) (string, error) {
	key, err := decodeAESKey(aesKey)
	if err != nil {
		return "", err
	}
	echo := query.Get("echostr")
	if echo == "" {
		return "", &connectors.BadRequestError{Reason: "URL check without echostr"}
	}
	if err := checkSignature(query, token, echo); err != nil {
		// A '+' the caller forgot to percent-encode arrives as a space.
		fixed := strings.ReplaceAll(echo, " ", "+")
		if fixed == echo || checkSignature(query, token, fixed) != nil {
			return "", err
		}
		echo = fixed
	}
	plain, err := decrypt(key, corpID, echo)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// checkSignature compares msg_signature with sha1(sort(token, timestamp,
// nonce, encrypted)) in constant time.
func checkSignature(query url.Values, token, encrypted string) error {
	got := strings.ToLower(query.Get("msg_signature"))
	if got == "" {
		return &connectors.VerifyError{Reason: "msg_signature is missing"}
	}
	want := util.Signature(token, query.Get("timestamp"), query.Get("nonce"), encrypted)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return &connectors.VerifyError{Reason: "msg_signature does not match"}
	}
	return nil
}

// decrypt opens an Encrypt value (or echostr) and checks its receiveid.
func decrypt(key []byte, corpID, encrypted string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, &connectors.VerifyError{Reason: "encrypted payload is not base64"}
	}
	// util.AESDecryptMsg checks the length is whole 32-byte blocks and
	// bounds every slice; the key is checked to be 32 bytes.
	_, msg, receiveID, err := util.AESDecryptMsg(ct, key)
	if err != nil {
		return nil, &connectors.VerifyError{Reason: "cannot decrypt the payload"}
	}
	if string(receiveID) != corpID {
		return nil, &connectors.VerifyError{Reason: "payload is for another receiveid than the channel's corpId"}
	}
	return msg, nil
}

var errBadAESKey = errors.New("wecom: encodingAESKey must be 43 characters of base64 (32 bytes)")

func decodeAESKey(s string) ([]byte, error) {
	if len(s) != 43 {
		return nil, errBadAESKey
	}
	key, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(key) != 32 {
		return nil, errBadAESKey
	}
	return key, nil
}

func validAESKey(s string) error {
	if _, err := decodeAESKey(s); err != nil {
		return fmt.Errorf("must be the 43-character EncodingAESKey (got %d characters)", len(s))
	}
	return nil
}
