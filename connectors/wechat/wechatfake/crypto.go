package wechatfake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Official Account push crypto, as the platform does it (PLATFORMS.md;
// WeCom's scheme with the AppID as receiveid):
//
//	URL check and plain mode: signature = hex(sha1(sort(token, timestamp, nonce) joined))
//	key           = base64decode(EncodingAESKey + "=")            (32 bytes)
//	plaintext     = random(16) + len(msg) (4 bytes, big endian) + msg + AppID
//	ciphertext    = AES-256-CBC(key, IV = key[:16], PKCS#7 padded to a multiple of 32)
//	Encrypt       = base64(ciphertext)
//	msg_signature = hex(sha1(sort(token, timestamp, nonce, Encrypt) joined))
//
// It is written here from the description, not borrowed from the SDK the
// connector uses, so the two check each other.

const pkcs7Block = 32

// AESKey decodes an EncodingAESKey (43 characters) into the 32-byte key.
func AESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wechatfake: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("wechatfake: EncodingAESKey is not base64 of 32 bytes")
	}
	return key, nil
}

// NewAESKey returns a random valid EncodingAESKey.
func NewAESKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)[:43]
}

// Encrypt encrypts msg for appID the way the platform does and returns the
// base64 Encrypt value.
func Encrypt(encodingAESKey, appID string, msg []byte) (string, error) {
	var random [16]byte
	_, _ = rand.Read(random[:])
	return EncryptWithRandom(encodingAESKey, appID, random, msg)
}

// EncryptWithRandom is Encrypt with the 16 random bytes given (fuzz seeds).
func EncryptWithRandom(encodingAESKey, appID string, random [16]byte, msg []byte) (string, error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 0, 20+len(msg)+len(appID)+pkcs7Block)
	plain = append(plain, random[:]...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, appID...)
	pad := pkcs7Block - len(plain)%pkcs7Block
	for range pad {
		plain = append(plain, byte(pad))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt reverses Encrypt and returns the message and the AppID.
func Decrypt(encodingAESKey, encrypt string) (msg []byte, appID string, err error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	ct, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, "", errors.New("wechatfake: Encrypt is not base64")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, "", errors.New("wechatfake: ciphertext is not whole blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > pkcs7Block || pad > len(plain) {
		return nil, "", errors.New("wechatfake: bad padding")
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", errors.New("wechatfake: plaintext too short")
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", errors.New("wechatfake: bad message length")
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}

// Signature is the lowercase hex sha1 of the strings sorted and joined
// without a separator: `signature` over (token, timestamp, nonce),
// msg_signature over (token, timestamp, nonce, Encrypt).
func Signature(parts ...string) string {
	parts = append([]string(nil), parts...)
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Nonce returns a random nonce like the platform's (digits).
func Nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])%1e10, 10)
}

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
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), Nonce()
	return &SignedPush{
		Query: url.Values{
			"signature": {Signature(token, timestamp, nonce)},
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
	enc, err := Encrypt(encodingAESKey, appID, msgXML)
	if err != nil {
		return nil, err
	}
	h := peek(msgXML)
	return SignSafe(token, ts, h.ToUserName, h.FromUserName, enc), nil
}

// SignSafe wraps an Encrypt value in the outer XML and signs it.
func SignSafe(token string, ts time.Time, toUserName, openID, encrypt string) *SignedPush {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), Nonce()
	body := "<xml><ToUserName>" + cdata(toUserName) + "</ToUserName><Encrypt>" + cdata(encrypt) + "</Encrypt></xml>"
	return &SignedPush{
		Query: url.Values{
			"signature":     {Signature(token, timestamp, nonce)},
			"timestamp":     {timestamp},
			"nonce":         {nonce},
			"openid":        {openID},
			"encrypt_type":  {"aes"},
			"msg_signature": {Signature(token, timestamp, nonce, encrypt)},
		},
		Body: []byte(body),
	}
}

// URLCheckQuery builds the 服务器配置 URL check's query for echostr.
func URLCheckQuery(token string, ts time.Time, echostr string) url.Values {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), Nonce()
	return url.Values{
		"signature": {Signature(token, timestamp, nonce)},
		"timestamp": {timestamp},
		"nonce":     {nonce},
		"echostr":   {echostr},
	}
}

// cdata wraps s in CDATA sections, splitting any "]]>" inside.
func cdata(s string) string {
	return "<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>"
}
