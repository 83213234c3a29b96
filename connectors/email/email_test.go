package email

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/email/emailtest"
)

const (
	testUser     = "support@shop.example"
	testPassword = "s3cret-app-password"
	testFrom     = "客服中心 <support@shop.example>"
)

var testNow = time.Date(2024, 12, 12, 10, 0, 0, 0, time.UTC)

func startServer(t *testing.T) *emailtest.Server {
	t.Helper()
	srv, err := emailtest.New(testUser, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func newChannel(t *testing.T, settings map[string]string) *channel {
	t.Helper()
	ch, err := New(connectors.Config{Settings: settings, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return ch.(*channel)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNew(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{
			"imapAddr": "imap.example.com:993", "smtpAddr": "smtp.example.com:465",
			"username": "u", "password": "p", "from": "Support <support@example.com>",
		}
	}
	t.Run("defaults", func(t *testing.T) {
		c := newChannel(t, base())
		if c.tls != TLSStartTLS || c.mailbox != "INBOX" || c.fromAddr != "support@example.com" || c.from.Name != "Support" {
			t.Errorf("got tls=%q mailbox=%q from=%q %q", c.tls, c.mailbox, c.fromAddr, c.from.Name)
		}
		if c.PollEvery() != 30*time.Second || len(c.PollKeys()) != 1 || c.PollKeys()[0] != "INBOX" {
			t.Errorf("PollEvery %v PollKeys %v", c.PollEvery(), c.PollKeys())
		}
		// starttls on the implicit-TLS ports means implicit.
		if c.modeFor(c.imapAddr, "993") != TLSImplicit || c.modeFor("smtp.example.com:587", "465") != TLSStartTLS {
			t.Error("modeFor does not switch ports 993/465 to implicit TLS")
		}
	})
	bad := []struct {
		name, key, value string
	}{
		{"no imapAddr", "imapAddr", ""},
		{"imapAddr without port", "imapAddr", "imap.example.com"},
		{"no password", "password", ""},
		{"bad from", "from", "not an address"},
		{"bad tls", "tls", "ssl"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			s[tt.key] = tt.value
			if _, err := New(connectors.Config{Settings: s}); err == nil {
				t.Errorf("New accepted %s=%q", tt.key, tt.value)
			}
		})
	}
	t.Run("spec normalizes", func(t *testing.T) {
		in := map[string]any{}
		for k, v := range base() {
			in[k] = v
		}
		out, err := spec.Normalize(in)
		if err != nil {
			t.Fatal(err)
		}
		if out["tls"] != "starttls" || out["mailbox"] != "INBOX" {
			t.Errorf("defaults: %v", out)
		}
		in["tls"] = "ssl"
		if _, err := spec.Normalize(in); err == nil {
			t.Error("tls=ssl accepted")
		}
		if keys := spec.SecretKeys(); len(keys) != 1 || keys[0] != "password" {
			t.Errorf("SecretKeys = %v", keys)
		}
	})
}

func TestTestConnection(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name    string
		edit    func(map[string]string)
		wantErr string
	}{
		{name: "ok", edit: func(map[string]string) {}},
		{name: "wrong password", edit: func(s map[string]string) { s["password"] = "wrong" }, wantErr: "IMAP server " + srv.IMAPAddr + " refused the login"},
		{name: "no such mailbox", edit: func(s map[string]string) { s["mailbox"] = "Support" }, wantErr: `cannot open the mailbox "Support"`},
		{name: "IMAP unreachable", edit: func(s map[string]string) { s["imapAddr"] = "127.0.0.1:1" }, wantErr: "cannot connect to 127.0.0.1:1"},
		{name: "SMTP unreachable", edit: func(s map[string]string) { s["smtpAddr"] = "127.0.0.1:1" }, wantErr: "SMTP: cannot connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv.Settings(testFrom)
			tt.edit(s)
			err := newChannel(t, s).Test(testContext(t))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Test: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Test error = %v, want it to mention %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), testPassword) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	t.Run("wrong password is a LoginError", func(t *testing.T) {
		s := srv.Settings(testFrom)
		s["password"] = "wrong"
		var le *LoginError
		if err := newChannel(t, s).Test(testContext(t)); !errors.As(err, &le) || le.Server != "IMAP" {
			t.Errorf("err = %v, want *LoginError for IMAP", err)
		}
	})
}

func TestTLSModes(t *testing.T) {
	srv, err := emailtest.NewTLS(testUser, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	deliver(t, srv, golden(t, "gbk.eml"))
	tests := []struct {
		name       string
		mode       string
		imap, smtp string
		trusted    bool
		wantErr    string
	}{
		{name: "starttls", mode: TLSStartTLS, imap: srv.IMAPAddr, smtp: srv.SMTPAddr, trusted: true},
		{name: "implicit", mode: TLSImplicit, imap: srv.IMAPSAddr, smtp: srv.SMTPSAddr, trusted: true},
		{name: "untrusted certificate", mode: TLSImplicit, imap: srv.IMAPSAddr, smtp: srv.SMTPSAddr, wantErr: "certificate"},
		{name: "none against a server that wants TLS", mode: TLSNone, imap: srv.IMAPAddr, smtp: srv.SMTPAddr, trusted: true, wantErr: "refused the login"},
		{name: "starttls on an implicit-TLS port", mode: TLSStartTLS, imap: srv.IMAPSAddr, smtp: srv.SMTPSAddr, trusted: true, wantErr: "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv.Settings(testFrom)
			s["tls"], s["imapAddr"], s["smtpAddr"] = tt.mode, tt.imap, tt.smtp
			c := newChannel(t, s)
			if tt.trusted {
				c.rootCAs = srv.CertPool
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := c.Test(ctx)
			if tt.wantErr != "" {
				t.Logf("error: %v", err)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Test error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Test: %v", err)
			}
			res, err := c.Sync(ctx, "", connectors.SyncHint{})
			if err != nil || len(res.Events) != 1 {
				t.Fatalf("Sync: %v, %+v", err, res)
			}
			if _, err := c.Send(ctx, connectors.OutboundMessage{DeliveryID: "tls-" + tt.mode, Recipient: "a@example.com", Text: "hi"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
		})
	}
	if n := len(srv.Sent()); n != 2 {
		t.Errorf("%d emails sent over TLS, want 2", n)
	}
}
