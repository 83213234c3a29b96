package api_test

import (
	"bytes"
	"testing"

	"github.com/kefuhub/kefuhub/models"
)

// TestChannelSecretsNeverReturned: secret settings are sealed at rest and
// appear nowhere in the API, the audit log or the database in clear.
func TestChannelSecretsNeverReturned(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		const (
			corpSecret = "corp-secret-VALUE-1234567890"
			aesKey     = "aesKeyVALUEabcdefghijklmnopqrstuvwxyzABCDEF"
			token      = "callbackTokenVALUE"
		)
		id := e.createChannel(e.adminA, "WECOM_KF", "企业微信客服", map[string]any{
			"corpId": "ww1234567890", "openKfId": "wkABCDEF", "secret": corpSecret, "encodingAESKey": aesKey, "token": token,
		})
		d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Channel { kind settings secretKeys } }
			channels { nodes { settings } } }`, map[string]any{"id": id})
		settings := get(d, "node", "settings").(map[string]any)
		if settings["corpId"] != "ww1234567890" || settings["openKfId"] != "wkABCDEF" {
			t.Errorf("public settings lost: %v", settings)
		}
		for _, k := range []string{"secret", "encodingAESKey", "token"} {
			if _, ok := settings[k]; ok {
				t.Errorf("secret setting %q returned", k)
			}
		}
		keys := get(d, "node", "secretKeys").([]any)
		if len(keys) != 3 {
			t.Errorf("secretKeys = %v, want the three secret names", keys)
		}
		audit := e.do(e.adminA, `{ auditEvents(first: 100) { nodes { action before after } } }`, nil)
		for _, raw := range [][]byte{audit.Raw, mustJSON(d)} {
			for _, s := range []string{corpSecret, aesKey, token} {
				if bytes.Contains(raw, []byte(s)) {
					t.Fatalf("secret %q appears in an API response", s)
				}
			}
		}
		// At rest: the row holds ciphertext only, and the hub can open it.
		var ch models.Channel
		if err := e.store.DB.Where("kind = ?", "WECOM_KF").Take(&ch).Error; err != nil {
			t.Fatal(err)
		}
		var rowText []byte
		rowText = append(rowText, ch.SealedSecrets...)
		rowText = append(rowText, mustJSON(ch.Settings)...)
		for _, s := range []string{corpSecret, aesKey, token} {
			if bytes.Contains(rowText, []byte(s)) {
				t.Fatalf("secret %q stored in clear", s)
			}
		}
		secrets, err := e.hub.ChannelSecrets(&ch)
		if err != nil {
			t.Fatal(err)
		}
		if secrets["secret"] != corpSecret || secrets["encodingAESKey"] != aesKey || secrets["token"] != token {
			t.Errorf("sealed secrets do not open to what was stored: %v", secrets)
		}
		// A sealed value moved to another channel does not open.
		other := ch
		other.ID++
		if _, err := e.hub.ChannelSecrets(&other); err == nil {
			t.Error("sealed secrets opened under another channel's id")
		}
	})
}
