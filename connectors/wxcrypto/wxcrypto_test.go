package wxcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"
)

// A known vector, computed outside Go (Python building the plaintext,
// `openssl enc -aes-256-cbc -nopad`, sha1sum) from the values of the
// platform's own sample (token pamtest, EncodingAESKey abc...EFG, AppID
// wxb11529c136998cb6).
const (
	vecKey       = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vecToken     = "pamtest"
	vecTimestamp = "1409304348"
	vecNonce     = "xxxxxx"
	vecReceiveID = "wxb11529c136998cb6"
	vecRandom    = "0123456789abcdef"
	vecMsg       = "<xml><Content><![CDATA[你好]]></Content></xml>"
	vecEncrypt   = "Q3stYC6hdFzMh9T8HCvyDMwQK6xyeRZ7UnuZsYfP7/6Yf0piNuk7kxZYuxJFeZQQ6WWSSAGv9ZFJIKURndrGs8fBeGiFkRewkOQMP0Cj7SAtCRBa7uTvQgw94mPcQIzl"
	// sha1(sort(token, timestamp, nonce, Encrypt)) and sha1(sort(token, timestamp, nonce)).
	vecMsgSignature = "076c9abc93f12ee9c95bbdff2988d1c592945f1a"
	vecSignature    = "76480565cbe296026c53aaacd1ad523a1ddba24f"
)

func TestKnownVector(t *testing.T) {
	var random [16]byte
	copy(random[:], vecRandom)
	enc, err := EncryptWithRandom(vecKey, vecReceiveID, random, []byte(vecMsg))
	if err != nil || enc != vecEncrypt {
		t.Fatalf("EncryptWithRandom = %q, %v; want %q", enc, err, vecEncrypt)
	}
	msg, rid, err := Decrypt(vecKey, vecEncrypt)
	if err != nil || string(msg) != vecMsg || rid != vecReceiveID {
		t.Fatalf("Decrypt = %q, %q, %v", msg, rid, err)
	}

	// silenceper opens the vector the same way.
	key, err := ParseAESKey(vecKey)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(vecEncrypt)
	gotRandom, gotMsg, gotRID, err := util.AESDecryptMsg(ct, key)
	if err != nil || string(gotRandom) != vecRandom || string(gotMsg) != vecMsg || string(gotRID) != vecReceiveID {
		t.Fatalf("util.AESDecryptMsg = %q, %q, %q, %v", gotRandom, gotMsg, gotRID, err)
	}

	for _, tt := range []struct {
		parts []string
		want  string
	}{
		{[]string{vecToken, vecTimestamp, vecNonce, vecEncrypt}, vecMsgSignature},
		{[]string{vecToken, vecTimestamp, vecNonce}, vecSignature},
	} {
		if got := Signature(tt.parts...); got != tt.want {
			t.Errorf("Signature(%q) = %s, want %s", tt.parts, got, tt.want)
		}
		if got := util.Signature(append([]string(nil), tt.parts...)...); got != tt.want {
			t.Errorf("util.Signature(%q) = %s, want %s", tt.parts, got, tt.want)
		}
	}
}

// Each implementation must open what the other seals.
func TestAgreesWithSilenceper(t *testing.T) {
	key := NewAESKey()
	for _, msg := range []string{"", "x", strings.Repeat("消息", 100), "<xml><Event>kf_msg_or_event</Event></xml>", strings.Repeat("a", 12)} {
		enc, err := Encrypt(key, "wwCorp", []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := util.DecryptMsg("wwCorp", enc, key)
		if err != nil || string(got) != msg {
			t.Fatalf("silenceper opened %q as %q, %v", msg, got, err)
		}
		theirs, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(msg), "wwCorp", key)
		if err != nil {
			t.Fatal(err)
		}
		got, rid, err := Decrypt(key, string(theirs))
		if err != nil || string(got) != msg || rid != "wwCorp" {
			t.Fatalf("Decrypt opened %q as %q for %q, %v", msg, got, rid, err)
		}
	}
	for _, parts := range [][]string{{"t", "1", "2"}, {"t", "1", "2", "enc"}, {}, {"b", "a", "b"}} {
		if a, b := Signature(parts...), util.Signature(append([]string(nil), parts...)...); a != b {
			t.Errorf("Signature(%q) = %s, silenceper %s", parts, a, b)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	key := NewAESKey()
	for n := range 70 {
		msg := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		for _, rid := range []string{"w", "wx5d8e2f1a3b4c6d7e", strings.Repeat("r", 40)} {
			enc, err := Encrypt(key, rid, msg)
			if err != nil {
				t.Fatal(err)
			}
			got, gotRID, err := Decrypt(key, enc)
			if err != nil || !bytes.Equal(got, msg) || gotRID != rid {
				t.Fatalf("len %d for %q: opened %q for %q, %v", n, rid, got, gotRID, err)
			}
			if cap(got) != len(got) {
				t.Fatalf("message shares capacity with the receiveid: cap %d, len %d", cap(got), len(got))
			}
		}
	}
	// Fresh random bytes each time.
	a, _ := Encrypt(key, "w", []byte("same"))
	b, _ := Encrypt(key, "w", []byte("same"))
	if a == b {
		t.Error("two encryptions of the same message are equal")
	}
}

func TestSignatureDoesNotSortCallersSlice(t *testing.T) {
	parts := []string{"c", "b", "a"}
	Signature(parts...)
	if parts[0] != "c" || parts[2] != "a" {
		t.Errorf("parts reordered: %q", parts)
	}
}

func TestVerifySignature(t *testing.T) {
	if !VerifySignature(vecSignature, vecToken, vecTimestamp, vecNonce) {
		t.Error("the right signature was refused")
	}
	if !VerifySignature(strings.ToUpper(vecSignature), vecNonce, vecToken, vecTimestamp) {
		t.Error("upper-case hex, parts in another order: refused")
	}
	for _, bad := range []string{"", vecSignature[:39], vecSignature + "0", vecMsgSignature} {
		if VerifySignature(bad, vecToken, vecTimestamp, vecNonce) {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestVerifyQuery(t *testing.T) {
	q := url.Values{"timestamp": {vecTimestamp}, "nonce": {vecNonce}, "signature": {vecSignature}, "msg_signature": {vecMsgSignature}}
	if err := VerifyQuery(q, "signature", vecToken); err != nil {
		t.Errorf("signature: %v", err)
	}
	if err := VerifyQuery(q, "msg_signature", vecToken, vecEncrypt); err != nil {
		t.Errorf("msg_signature: %v", err)
	}
	var se *SignatureError
	if err := VerifyQuery(q, "msg_signature", "other", vecEncrypt); !errors.As(err, &se) || se.Missing ||
		err.Error() != "msg_signature does not match" {
		t.Errorf("wrong token: %v", err)
	}
	if err := VerifyQuery(url.Values{}, "signature", vecToken); !errors.As(err, &se) || !se.Missing ||
		err.Error() != "signature is missing" {
		t.Errorf("no signature: %v", err)
	}
}

func TestParseAESKey(t *testing.T) {
	for range 50 {
		if k, err := ParseAESKey(NewAESKey()); err != nil || len(k) != 32 {
			t.Fatalf("ParseAESKey(NewAESKey()) = %d bytes, %v", len(k), err)
		}
	}
	for _, bad := range []string{"", "short", vecKey + "H", vecKey[:42] + "!", strings.Repeat("=", 43)} {
		if _, err := ParseAESKey(bad); err != ErrBadAESKey {
			t.Errorf("ParseAESKey(%q): %v, want ErrBadAESKey", bad, err)
		}
	}
	if _, err := Encrypt("short", "w", nil); err != ErrBadAESKey {
		t.Errorf("Encrypt with a bad key: %v", err)
	}
	if _, _, err := Decrypt("short", vecEncrypt); err != ErrBadAESKey {
		t.Errorf("Decrypt with a bad key: %v", err)
	}
}

func TestNonce(t *testing.T) {
	for range 100 {
		n := Nonce()
		if n == "" || len(n) > 10 || strings.Trim(n, "0123456789") != "" {
			t.Fatalf("nonce %q", n)
		}
	}
}

// seal encrypts a raw plaintext (padding and all) the way Encrypt does, so
// that malformed plaintexts can be built.
func seal(t *testing.T, encodingAESKey string, plain []byte) string {
	t.Helper()
	key, err := ParseAESKey(encodingAESKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

// plaintext is random(16) + declared length + body, padded with pad bytes
// of value padByte.
func plaintext(declared uint32, body string, padByte byte, pad int) []byte {
	p := []byte(vecRandom)
	p = binary.BigEndian.AppendUint32(p, declared)
	p = append(p, body...)
	return append(p, bytes.Repeat([]byte{padByte}, pad)...)
}

// Decrypt refuses what silenceper's AESDecryptMsg refuses, and the two
// agree on every case here.
func TestDecryptRefuses(t *testing.T) {
	key := vecKey
	tests := []struct {
		name    string
		enc     string
		wantErr error
	}{
		{"not base64", "%%%not-base64%%%", ErrNotBase64},
		{"empty", "", ErrDecrypt},
		{"one AES block", base64.StdEncoding.EncodeToString(make([]byte, 16)), ErrDecrypt},
		{"48 bytes", base64.StdEncoding.EncodeToString(make([]byte, 48)), ErrDecrypt},
		{"padding 0", seal(t, key, plaintext(1, "xrid", 0, 8)), ErrDecrypt},
		{"padding 33", seal(t, key, plaintext(1, "xrid", 33, 8)), ErrDecrypt},
		{"no receiveid", seal(t, key, plaintext(4, "abcd", 8, 8)), ErrDecrypt},
		{"only random and length", seal(t, key, plaintext(0, "", 12, 12)), ErrDecrypt},
		{"length past the end", seal(t, key, plaintext(1<<31, "abcd", 8, 8)), ErrDecrypt},
		{"length 2^32-1", seal(t, key, plaintext(^uint32(0), "abcd", 8, 8)), ErrDecrypt},
		{"valid: empty message", seal(t, key, plaintext(0, "rid", 9, 9)), nil},
		{"valid: padding 32", seal(t, key, plaintext(2, "hi"+"receiveid0", 32, 32)), nil},
	}
	k, _ := ParseAESKey(key)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decrypt(key, tt.enc)
			if err != tt.wantErr {
				t.Errorf("Decrypt: %v, want %v", err, tt.wantErr)
			}
			ct, b64err := base64.StdEncoding.DecodeString(tt.enc)
			if b64err != nil {
				return
			}
			_, _, _, theirs := util.AESDecryptMsg(ct, k)
			if (theirs == nil) != (err == nil) {
				t.Errorf("Decrypt: %v; util.AESDecryptMsg: %v", err, theirs)
			}
		})
	}
}

// FuzzDecrypt checks Decrypt against silenceper's AESDecryptMsg on
// arbitrary ciphertexts: both refuse or both open to the same message and
// receiveid, and nothing panics.
func FuzzDecrypt(f *testing.F) {
	k, _ := ParseAESKey(vecKey)
	f.Add([]byte(nil))
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 64))
	ct, _ := base64.StdEncoding.DecodeString(vecEncrypt)
	f.Add(ct)
	f.Fuzz(func(t *testing.T, ct []byte) {
		msg, rid, err := Decrypt(vecKey, base64.StdEncoding.EncodeToString(ct))
		if err != nil && err != ErrDecrypt {
			t.Fatalf("error %v", err)
		}
		_, theirMsg, theirRID, theirErr := util.AESDecryptMsg(ct, k)
		if (err == nil) != (theirErr == nil) {
			t.Fatalf("Decrypt: %v; util.AESDecryptMsg: %v", err, theirErr)
		}
		if err == nil && (!bytes.Equal(msg, theirMsg) || rid != string(theirRID)) {
			t.Fatalf("Decrypt opened %q for %q, silenceper %q for %q", msg, rid, theirMsg, theirRID)
		}
	})
}
