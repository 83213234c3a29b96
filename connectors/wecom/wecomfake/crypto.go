package wecomfake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The WeCom callback crypto, as the platform does it (PLATFORMS.md):
//
//	key        = base64decode(EncodingAESKey + "=")            (32 bytes)
//	plaintext  = random(16) + len(msg) (4 bytes, big endian) + msg + receiveid
//	ciphertext = AES-256-CBC(key, IV = key[:16], PKCS#7 padded to a multiple of 32)
//	Encrypt    = base64(ciphertext)
//	msg_signature = hex(sha1(sort(token, timestamp, nonce, Encrypt) joined))
//
// It is written here from the description, not borrowed from the SDK the
// connector uses, so the two check each other.

const pkcs7Block = 32

// AESKey decodes an EncodingAESKey (43 characters) into the 32-byte key.
func AESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wecomfake: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("wecomfake: EncodingAESKey is not base64 of 32 bytes")
	}
	return key, nil
}

// NewAESKey returns a random valid EncodingAESKey.
func NewAESKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)[:43]
}

// Encrypt encrypts msg for receiveID (the CorpID) the way WeCom does and
// returns the base64 Encrypt value.
func Encrypt(encodingAESKey, receiveID string, msg []byte) (string, error) {
	var random [16]byte
	_, _ = rand.Read(random[:])
	return EncryptWithRandom(encodingAESKey, receiveID, random, msg)
}

// EncryptWithRandom is Encrypt with the 16 random bytes given (tests, fuzz
// seeds).
func EncryptWithRandom(encodingAESKey, receiveID string, random [16]byte, msg []byte) (string, error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 0, 20+len(msg)+len(receiveID)+pkcs7Block)
	plain = append(plain, random[:]...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, receiveID...)
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

// Decrypt reverses Encrypt and returns the message and the receiveid.
func Decrypt(encodingAESKey, encrypt string) (msg []byte, receiveID string, err error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	ct, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, "", errors.New("wecomfake: Encrypt is not base64")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, "", errors.New("wecomfake: ciphertext is not whole blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > pkcs7Block || pad > len(plain) {
		return nil, "", errors.New("wecomfake: bad padding")
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", errors.New("wecomfake: plaintext too short")
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", errors.New("wecomfake: bad message length")
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}

// Signature is msg_signature: the lowercase hex sha1 of the strings sorted
// and joined without a separator.
func Signature(token, timestamp, nonce, encrypt string) string {
	parts := []string{token, timestamp, nonce, encrypt}
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

// SignedCallback is an encrypted callback ready to POST: the query
// (msg_signature, timestamp, nonce) and the XML body.
type SignedCallback struct {
	Query url.Values
	Body  []byte
}

// EncryptCallback encrypts plaintext XML for corpID and signs it with token,
// as WeCom POSTs a callback.
func EncryptCallback(token, encodingAESKey, corpID string, ts time.Time, plaintext []byte) (*SignedCallback, error) {
	enc, err := Encrypt(encodingAESKey, corpID, plaintext)
	if err != nil {
		return nil, err
	}
	return SignCallback(token, corpID, ts, enc), nil
}

// SignCallback wraps an Encrypt value in the outer XML and signs it.
func SignCallback(token, corpID string, ts time.Time, encrypt string) *SignedCallback {
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), Nonce()
	body := "<xml><ToUserName><![CDATA[" + corpID + "]]></ToUserName>" +
		"<Encrypt><![CDATA[" + encrypt + "]]></Encrypt>" +
		"<AgentID><![CDATA[]]></AgentID></xml>"
	return &SignedCallback{
		Query: url.Values{
			"msg_signature": {Signature(token, timestamp, nonce, encrypt)},
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
	echostr, err := Encrypt(encodingAESKey, corpID, []byte(plain))
	if err != nil {
		return nil, err
	}
	timestamp, nonce := strconv.FormatInt(ts.Unix(), 10), Nonce()
	return url.Values{
		"msg_signature": {Signature(token, timestamp, nonce, echostr)},
		"timestamp":     {timestamp},
		"nonce":         {nonce},
		"echostr":       {echostr},
	}, nil
}
