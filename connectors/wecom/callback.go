package wecom

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/silenceper/wechat/v2/work/kf"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
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
// silenceper's kf.Client.GetCallbackMessage does not check msg_signature;
// the crypto is package wxcrypto's.
func ParseCallback(token, aesKey, corpID string, query url.Values, body []byte) (*Callback, error) {
	if err := checkAESKey(aesKey); err != nil {
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
	plain, err := decrypt(aesKey, corpID, outer.Encrypt)
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
	if err := checkAESKey(aesKey); err != nil {
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
	plain, err := decrypt(aesKey, corpID, echo)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// checkSignature compares msg_signature with sha1(sort(token, timestamp,
// nonce, encrypted)) in constant time.
func checkSignature(query url.Values, token, encrypted string) error {
	if err := wxcrypto.VerifyQuery(query, "msg_signature", token, encrypted); err != nil {
		return &connectors.VerifyError{Reason: err.Error()}
	}
	return nil
}

// decrypt opens an Encrypt value (or echostr) and checks its receiveid;
// aesKey is known to be valid.
func decrypt(aesKey, corpID, encrypted string) ([]byte, error) {
	msg, receiveID, err := wxcrypto.Decrypt(aesKey, encrypted)
	if err != nil {
		return nil, &connectors.VerifyError{Reason: err.Error()}
	}
	if receiveID != corpID {
		return nil, &connectors.VerifyError{Reason: "payload is for another receiveid than the channel's corpId"}
	}
	return msg, nil
}

var errBadAESKey = errors.New("wecom: encodingAESKey must be 43 characters of base64 (32 bytes)")

func checkAESKey(s string) error {
	if _, err := wxcrypto.ParseAESKey(s); err != nil {
		return errBadAESKey
	}
	return nil
}

func validAESKey(s string) error {
	if checkAESKey(s) != nil {
		return fmt.Errorf("must be the 43-character EncodingAESKey (got %d characters)", len(s))
	}
	return nil
}
