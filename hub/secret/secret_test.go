package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func newBox(t *testing.T) *Box {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBox(t)
	plain := []byte(`{"secret":"s3cr3t","token":"abc"}`)
	sealed, err := b.Seal(plain, []byte("channel:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cr3t")) {
		t.Fatalf("sealed value contains the plaintext")
	}
	got, err := b.Open(sealed, []byte("channel:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("got %q, want %q", got, plain)
	}
}

func TestOpenRejects(t *testing.T) {
	b := newBox(t)
	sealed, err := b.Seal([]byte("x"), []byte("channel:1"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		aad    string
	}{
		{"other owner", b, sealed, "channel:2"},
		{"tampered", b, tampered, "channel:1"},
		{"other key", newBox(t), sealed, "channel:1"},
		{"truncated", b, sealed[:5], "channel:1"},
		{"empty", b, nil, "channel:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.box.Open(tt.sealed, []byte(tt.aad)); !errors.Is(err, ErrOpen) {
				t.Fatalf("got %v, want ErrOpen", err)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", false},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", false},
		{"AAECAwQFBgcICQoLDA0ODw==", true}, // 16 bytes
		{"not base64!!", true},
	}
	for _, tt := range tests {
		_, err := ParseKey(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseKey(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kefuhub.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatalf("key changed between loads")
	}
}
