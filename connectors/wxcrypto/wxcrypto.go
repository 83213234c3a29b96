// Package wxcrypto is the callback crypto Tencent's platforms share: WeCom
// callbacks (receiveid = CorpID), WeChat Official Account safe-mode pushes
// (receiveid = AppID) and, with the same scheme, DingTalk's HTTP event push.
// See PLATFORMS.md:
//
//	signature     = hex(sha1(sort(token, timestamp, nonce[, Encrypt]) joined))
//	key           = base64decode(EncodingAESKey + "=")                 (32 bytes)
//	plaintext     = random(16) + len(msg) (4 bytes, big endian) + msg + receiveid
//	ciphertext    = AES-256-CBC(key, IV = key[:16], PKCS#7 padded to a multiple of 32)
//	Encrypt       = base64(ciphertext)
//
// It is written from the description rather than borrowed from an SDK; its
// tests check it against silenceper's util package, another reading of the
// same documents. Decrypt accepts exactly what silenceper's AESDecryptMsg
// accepts (the connectors used it before).
//
// The texts of the errors it returns, except ErrBadAESKey's, are safe to
// give a caller as the reason a request was refused.
package wxcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// pkcs7Block is the padding block: 32 bytes, not AES's 16.
const pkcs7Block = 32

// Errors Decrypt and ParseAESKey return.
var (
	ErrBadAESKey = errors.New("wxcrypto: EncodingAESKey must be 43 characters of base64 (32 bytes)")
	ErrNotBase64 = errors.New("encrypted payload is not base64")
	// ErrDecrypt covers every malformed ciphertext or plaintext (length,
	// padding, message length), without saying which: the answer to a
	// forged payload tells nothing about the key.
	ErrDecrypt = errors.New("cannot decrypt the payload")
)

// Signature is the lowercase hex sha1 of parts sorted and joined without a
// separator: `signature` over (token, timestamp, nonce), msg_signature
// over (token, timestamp, nonce, Encrypt). parts is not modified.
func Signature(parts ...string) string {
	sorted := slices.Clone(parts)
	slices.Sort(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// VerifySignature reports whether signature (hex, either case) is
// Signature(parts...), comparing in constant time.
func VerifySignature(signature string, parts ...string) bool {
	want := Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) == 1
}

// SignatureError is a request whose signature parameter is missing or
// wrong. Its text ("msg_signature is missing", "signature does not
// match") is safe to answer with.
type SignatureError struct {
	Param   string // the query parameter: signature, msg_signature
	Missing bool
}

func (e *SignatureError) Error() string {
	if e.Missing {
		return e.Param + " is missing"
	}
	return e.Param + " does not match"
}

// VerifyQuery checks the signature a callback carries in query[param]
// against Signature(token, timestamp, nonce, extra...), timestamp and
// nonce being the query's, in constant time. It returns nil or a
// *SignatureError.
func VerifyQuery(query url.Values, param, token string, extra ...string) error {
	got := query.Get(param)
	if got == "" {
		return &SignatureError{Param: param, Missing: true}
	}
	parts := append([]string{token, query.Get("timestamp"), query.Get("nonce")}, extra...)
	if !VerifySignature(got, parts...) {
		return &SignatureError{Param: param}
	}
	return nil
}

// ParseAESKey decodes an EncodingAESKey (43 characters of base64) into the
// 32-byte AES key, or returns ErrBadAESKey.
func ParseAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, ErrBadAESKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadAESKey
	}
	return key, nil
}

// NewAESKey returns a random valid EncodingAESKey.
func NewAESKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)[:43]
}

// Nonce returns a random nonce like the platforms' (up to 10 digits).
func Nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])%1e10, 10)
}

// Encrypt encrypts msg for receiveID with 16 random bytes from crypto/rand
// and returns the base64 Encrypt value.
func Encrypt(encodingAESKey, receiveID string, msg []byte) (string, error) {
	var random [16]byte
	_, _ = rand.Read(random[:])
	return EncryptWithRandom(encodingAESKey, receiveID, random, msg)
}

// EncryptWithRandom is Encrypt with the 16 random bytes given: known
// vectors in tests, fuzz seeds.
func EncryptWithRandom(encodingAESKey, receiveID string, random [16]byte, msg []byte) (string, error) {
	key, err := ParseAESKey(encodingAESKey)
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
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt reverses Encrypt: it returns the message and the receiveid it
// was sealed for, which the caller must compare with its own. Errors are
// ErrBadAESKey, ErrNotBase64 and ErrDecrypt. The receiveid is never empty:
// a payload without one is refused.
func Decrypt(encodingAESKey, encrypted string) (msg []byte, receiveID string, err error) {
	key, err := ParseAESKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, "", ErrNotBase64
	}
	if len(ct) < pkcs7Block || len(ct)%pkcs7Block != 0 {
		return nil, "", ErrDecrypt
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > pkcs7Block {
		return nil, "", ErrDecrypt
	}
	plain = plain[:len(plain)-pad]
	if len(plain) <= 20 {
		return nil, "", ErrDecrypt
	}
	end := 20 + uint64(binary.BigEndian.Uint32(plain[16:20]))
	if end >= uint64(len(plain)) {
		return nil, "", ErrDecrypt
	}
	return plain[20:end:end], string(plain[end:]), nil
}
