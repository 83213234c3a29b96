package wechat

import (
	"bytes"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
	"github.com/kefuhub/kefuhub/models"
)

// Message is a message or event the Official Account platform pushes, as
// plaintext XML (after decryption in safe mode). It is narrower than
// silenceper's message.MixMessage on purpose: MixMessage decodes MsgId,
// CreateTime and dozens of unrelated fields as numbers, so one unexpected
// value anywhere would make an authentic push fail, and WeChat drops a
// push after three tries. Here every field is a string.
type Message struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`   // the account's original id (gh_...)
	FromUserName string   `xml:"FromUserName"` // the user's openid
	CreateTime   string   `xml:"CreateTime"`   // Unix seconds
	MsgType      string   `xml:"MsgType"`      // text, image, voice, video, shortvideo, location, link, event
	MsgID        string   `xml:"MsgId"`
	Content      string   `xml:"Content"`
	BizMsgMenuID string   `xml:"bizmsgmenuid"` // a menu message's option the user tapped
	PicURL       string   `xml:"PicUrl"`
	MediaID      string   `xml:"MediaId"`
	Format       string   `xml:"Format"`      // voice: amr, speex
	Recognition  string   `xml:"Recognition"` // voice: speech recognition, when enabled
	ThumbMediaID string   `xml:"ThumbMediaId"`
	LocationX    string   `xml:"Location_X"` // latitude
	LocationY    string   `xml:"Location_Y"` // longitude
	Scale        string   `xml:"Scale"`
	Label        string   `xml:"Label"`
	Title        string   `xml:"Title"`
	Description  string   `xml:"Description"`
	URL          string   `xml:"Url"`
	Event        string   `xml:"Event"` // subscribe, unsubscribe, SCAN, LOCATION, CLICK, VIEW, ...
	EventKey     string   `xml:"EventKey"`
	Ticket       string   `xml:"Ticket"`
	Latitude     string   `xml:"Latitude"`
	Longitude    string   `xml:"Longitude"`
	Precision    string   `xml:"Precision"`
	MenuID       string   `xml:"MenuId"`
	UnionID      string   `xml:"UnionId"`
}

// reportEvents are pushes about the account's own jobs rather than a
// user's action (one per template message sent, per mass send, per
// article published, per verification step). They are acknowledged and
// dropped: each would otherwise open a conversation with no customer in it.
var reportEvents = map[string]bool{
	"TEMPLATESENDJOBFINISH": true,
	"MASSSENDJOBFINISH":     true,
	"PUBLISHJOBFINISH":      true,
}

var reportEventPrefixes = []string{"qualification_verify_", "naming_verify_", "annual_renew", "verify_expired"}

func isReportEvent(event string) bool {
	if reportEvents[event] {
		return true
	}
	for _, p := range reportEventPrefixes {
		if strings.HasPrefix(event, p) {
			return true
		}
	}
	return false
}

// ParseMessage verifies a POSTed push and decodes it into events; it is
// the parser the fuzz test drives. settings are the channel's (appId,
// token, encodingAESKey); query is the request's (signature, timestamp,
// nonce, openid, and in safe mode encrypt_type=aes and msg_signature).
//
// Plain mode (no encodingAESKey): `signature` = sha1(sort(token,
// timestamp, nonce)) is checked and the body is the message XML. Safe mode
// (encodingAESKey set): only encrypt_type=aes pushes are accepted;
// msg_signature = sha1(sort(token, timestamp, nonce, Encrypt)) is checked,
// Encrypt decrypted, and its receiveid must be appId. A plain push to a
// safe-mode channel is refused: plain signatures do not cover the body, so
// accepting one would undo what safe mode protects.
//
// Errors are *connectors.VerifyError (signature, decryption, receiveid,
// mode mismatch) or *connectors.BadRequestError (malformed XML, a message
// without sender or type), except for missing or malformed settings. A
// report event (TEMPLATESENDJOBFINISH...) yields no events and no error.
func ParseMessage(settings map[string]string, query url.Values, body []byte) ([]connectors.InboundEvent, error) {
	plain, err := openMessage(settings["token"], settings["encodingAESKey"], settings["appId"], query, body)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(plain)
}

var (
	errNoToken = errors.New("wechat: the token setting is empty")
	errNoAppID = errors.New("wechat: the appId setting is empty")
)

// openMessage verifies a push and returns its plaintext XML.
func openMessage(token, aesKey, appID string, query url.Values, body []byte) ([]byte, error) {
	if token == "" {
		// sha1 over public values only: anyone could sign.
		return nil, errNoToken
	}
	if aesKey != "" {
		if err := checkAESKey(aesKey); err != nil {
			return nil, err
		}
	}
	switch et := query.Get("encrypt_type"); et {
	case "", "raw":
		if aesKey != "" {
			return nil, &connectors.VerifyError{Reason: "the channel is in safe mode (encodingAESKey is set) but the push is not " +
				"encrypted: set 消息加解密方式 to 安全模式 in 公众号后台, or clear encodingAESKey"}
		}
		if err := checkSignature(query, "signature", token); err != nil {
			return nil, err
		}
		return body, nil
	case "aes":
		if aesKey == "" {
			return nil, &connectors.VerifyError{Reason: "WeChat sent an encrypted (safe mode) push but the channel has no " +
				"encodingAESKey: paste the EncodingAESKey, or set 消息加解密方式 to 明文模式"}
		}
		if appID == "" {
			return nil, errNoAppID
		}
		var outer message.EncryptedXMLMsg
		if err := xml.Unmarshal(body, &outer); err != nil {
			return nil, &connectors.BadRequestError{Reason: "body is not the push XML"}
		}
		if outer.EncryptedMsg == "" {
			return nil, &connectors.BadRequestError{Reason: "encrypted push without Encrypt"}
		}
		if err := checkSignature(query, "msg_signature", token, outer.EncryptedMsg); err != nil {
			return nil, err
		}
		return decrypt(aesKey, appID, outer.EncryptedMsg)
	default:
		return nil, &connectors.BadRequestError{Reason: "unknown encrypt_type"}
	}
}

// VerifyURL answers the 服务器配置 URL check (GET ?signature&timestamp&
// nonce&echostr): it checks signature = sha1(sort(token, timestamp,
// nonce)) and returns echostr, to answer bare. The check is the same in
// every 消息加解密方式: echostr is never encrypted.
func VerifyURL(token string, query url.Values) (string, error) {
	if token == "" {
		return "", errNoToken
	}
	echo := query.Get("echostr")
	if echo == "" {
		return "", &connectors.BadRequestError{Reason: "URL check without echostr"}
	}
	if err := checkSignature(query, "signature", token); err != nil {
		return "", err
	}
	return echo, nil
}

// checkSignature compares query[param] with sha1(sort(token, timestamp,
// nonce, extra...)) in constant time: `signature` over (token, timestamp,
// nonce), msg_signature over those and Encrypt.
func checkSignature(query url.Values, param, token string, extra ...string) error {
	if err := wxcrypto.VerifyQuery(query, param, token, extra...); err != nil {
		return &connectors.VerifyError{Reason: err.Error()}
	}
	return nil
}

// decrypt opens an Encrypt value and checks its receiveid is appID;
// aesKey is known to be valid.
func decrypt(aesKey, appID, encrypted string) ([]byte, error) {
	msg, receiveID, err := wxcrypto.Decrypt(aesKey, encrypted)
	if err != nil {
		return nil, &connectors.VerifyError{Reason: err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(receiveID), []byte(appID)) != 1 {
		return nil, &connectors.VerifyError{Reason: "payload is for another AppID than the channel's appId"}
	}
	return msg, nil
}

var errBadAESKey = errors.New("wechat: encodingAESKey must be 43 characters of base64 (32 bytes)")

func checkAESKey(s string) error {
	if _, err := wxcrypto.ParseAESKey(s); err != nil {
		return errBadAESKey
	}
	return nil
}

func validAESKey(s string) error {
	if checkAESKey(s) != nil {
		return fmt.Errorf("must be the 43-character EncodingAESKey from 基本配置 (got %d characters), or empty for 明文模式", len(s))
	}
	return nil
}

// --- mapping ----------------------------------------------------------------

var mediaLabels = map[string]struct{ text, mime string }{
	"image":      {"[图片]", "image/*"},
	"voice":      {"[语音]", "audio/amr"},
	"video":      {"[视频]", "video/*"},
	"shortvideo": {"[小视频]", "video/*"},
}

// DecodeMessage maps a push's plaintext XML to events: a user message is
// one KindMessage, a user event one KindEvent (EventType as WeChat names
// it: subscribe, unsubscribe, SCAN, LOCATION, CLICK, VIEW...), a report
// event none. Every event's Raw is plain. It checks no signature: it is
// what DecodeRaw runs on a stored push.
//
// ExternalID is MsgId; events have none, and WeChat's documented dedupe key
// for them is FromUserName + CreateTime (+ Event here), joined with ':'
// (openids never contain one, MsgIds are digits).
func DecodeMessage(plain []byte) ([]connectors.InboundEvent, error) {
	var m Message
	if err := xml.Unmarshal(plain, &m); err != nil {
		return nil, &connectors.BadRequestError{Reason: "message is not the push XML"}
	}
	from, msgType := strings.TrimSpace(m.FromUserName), strings.TrimSpace(m.MsgType)
	if from == "" || msgType == "" {
		return nil, &connectors.BadRequestError{Reason: "message without FromUserName or MsgType"}
	}
	created := strings.TrimSpace(m.CreateTime)
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil || secs < 0 {
		return nil, &connectors.BadRequestError{Reason: "message without a valid CreateTime"}
	}
	ev := connectors.InboundEvent{
		Sender:      connectors.Sender{ExternalID: from, UnionID: strings.TrimSpace(m.UnionID)},
		ContentType: "text/plain",
		SentAt:      time.Unix(secs, 0).UTC(),
		Raw:         bytes.Clone(plain),
	}
	if msgType == "event" {
		event := strings.TrimSpace(m.Event)
		if event == "" {
			return nil, &connectors.BadRequestError{Reason: "event push without Event"}
		}
		if isReportEvent(event) {
			return nil, nil
		}
		ev.Kind, ev.EventType = connectors.KindEvent, event
		ev.ExternalID = from + ":" + created + ":" + event
		ev.Context = m.eventContext()
		return []connectors.InboundEvent{ev}, nil
	}
	ev.Kind = connectors.KindMessage
	ev.ExternalID = strings.TrimSpace(m.MsgID)
	if ev.ExternalID == "" {
		ev.ExternalID = from + ":" + created + ":" + msgType
	}
	m.content(msgType, &ev)
	return []connectors.InboundEvent{ev}, nil
}

func (m *Message) eventContext() map[string]any {
	ctx := map[string]any{}
	put := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			ctx[k] = v
		}
	}
	put("eventKey", m.EventKey) // subscribe via QR code: qrscene_<scene>; SCAN: <scene>; CLICK: the key; VIEW: the URL
	put("ticket", m.Ticket)
	put("menuId", m.MenuID)
	putNumber(ctx, "latitude", m.Latitude)
	putNumber(ctx, "longitude", m.Longitude)
	putNumber(ctx, "precision", m.Precision)
	if len(ctx) == 0 {
		return nil
	}
	return ctx
}

// putNumber stores a numeric field as a float64, or as the string WeChat
// sent if it is not a number.
func putNumber(ctx map[string]any, k, v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		ctx[k] = f
		return
	}
	ctx[k] = v
}

func (m *Message) content(msgType string, ev *connectors.InboundEvent) {
	switch msgType {
	case "text":
		ev.Text = m.Content
		if id := strings.TrimSpace(m.BizMsgMenuID); id != "" {
			ev.Context = map[string]any{"menuId": id}
		}
		return
	case "location":
		ev.Text = strings.TrimSpace("[位置] " + m.Label)
		ev.Context = map[string]any{}
		putNumber(ev.Context, "latitude", m.LocationX)
		putNumber(ev.Context, "longitude", m.LocationY)
		putNumber(ev.Context, "scale", m.Scale)
		if l := strings.TrimSpace(m.Label); l != "" {
			ev.Context["label"] = l
		}
		return
	case "link":
		ev.Text = strings.TrimSpace("[链接] " + m.Title + " " + m.URL)
		ev.Context = map[string]any{"title": m.Title, "description": m.Description, "url": m.URL}
		return
	}
	label, ok := mediaLabels[msgType]
	if !ok {
		// Mini program cards and types to come: the agent sees the type;
		// Raw keeps the rest.
		ev.Text = "[" + msgType + "]"
		return
	}
	ev.Text = label.text
	if msgType == "voice" {
		if f := strings.ToLower(strings.TrimSpace(m.Format)); f != "" {
			label.mime = "audio/" + f
		}
		if r := strings.TrimSpace(m.Recognition); r != "" {
			ev.Text += " " + r
		}
	}
	mediaID, picURL := strings.TrimSpace(m.MediaID), strings.TrimSpace(m.PicURL)
	if mediaID != "" || picURL != "" {
		// MediaId is a temporary material (3 days): fetch it with
		// /cgi-bin/media/get. PicUrl is directly downloadable.
		ev.Attachments = []models.Attachment{{Name: msgType, MimeType: label.mime, MediaID: mediaID, URL: picURL}}
	}
	if t := strings.TrimSpace(m.ThumbMediaID); t != "" {
		ev.Context = map[string]any{"thumbMediaId": t}
	}
}
