// Package email connects a support mailbox over the real mail protocols:
// kefuhub polls it over IMAP (a Poller: each call fetches the messages after
// a cursor) and replies over SMTP.
//
// Inbound: every message of the mailbox (INBOX unless set) after the cursor
// becomes a message event. Its ExternalID is the Message-ID (or a hash of the
// raw message when there is none), so fetching a message twice stores it
// once; its Context carries messageId, inReplyTo, references and subject for
// threading; its Text is the new part of the mail, without quoted history and
// signature (see TrimReply). Messages are read with BODY.PEEK from a
// read-only (EXAMINE) mailbox: kefuhub never changes flags or deletes mail.
//
// Outbound: a plain-text UTF-8 reply from the channel's address, with a
// Message-ID derived from the delivery id so a retried delivery is the same
// email (see SendReply).
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// Connector is the EMAIL channel kind.
func Connector() connectors.Connector {
	return connectors.Connector{Spec: spec, New: New}
}

// TLS modes of the tls setting.
const (
	TLSImplicit = "implicit" // TLS from the first byte (IMAP 993, SMTP 465)
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (IMAP 143, SMTP 587)
	TLSNone     = "none"     // no encryption (loopback relays, tests)
)

var spec = connectors.Spec{
	Kind:  models.ChannelEmail,
	Label: "Email (IMAP/SMTP)",
	Fields: []connectors.Field{
		{Name: "imapAddr", Label: "IMAP server, host:port (e.g. imap.exmail.qq.com:993)", Required: true, Validate: hostPort},
		{Name: "smtpAddr", Label: "SMTP server, host:port (e.g. smtp.exmail.qq.com:465)", Required: true, Validate: hostPort},
		{Name: "username", Label: "Login of the support mailbox", Required: true},
		{Name: "password", Label: "Password (or app password / authorization code)", Secret: true, Required: true},
		{Name: "from", Label: "From address of replies, e.g. 客服 <support@example.com>", Required: true, Validate: fromAddress},
		{Name: "tls", Label: "Encryption: implicit, starttls or none", Default: TLSStartTLS, Validate: tlsMode},
		{Name: "mailbox", Label: "Mailbox to read", Default: "INBOX"},
	},
	Setup: "Enter the IMAP and SMTP servers of the support mailbox and its login (many providers want an app " +
		"password or authorization code, and IMAP/SMTP enabled in the mailbox settings). kefuhub reads the mailbox " +
		"every 30 seconds without changing it and replies from the From address. With tls=starttls, ports 993 and " +
		"465 use implicit TLS, as those ports require.",
}

func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return errors.New("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return errors.New("must be host:port with a numeric port")
	}
	return nil
}

func fromAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") {
		return errors.New(`must be an email address, optionally with a name: Support <support@example.com>`)
	}
	return nil
}

func tlsMode(s string) error {
	switch s {
	case TLSImplicit, TLSStartTLS, TLSNone:
		return nil
	}
	return errors.New("must be implicit, starttls or none")
}

// Timeouts of one operation when the caller's context has no deadline.
const (
	dialTimeout = 20 * time.Second
	opTimeout   = 2 * time.Minute
)

type channel struct {
	imapAddr, smtpAddr string
	username, password string
	from               *mail.Address
	fromAddr           string // lower-cased
	tls                string
	mailbox            string
	now                func() time.Time

	// rootCAs overrides the system roots (tests with their own CA).
	rootCAs *x509.CertPool
	// idleWait, when > 0, makes a Sync that finds nothing wait up to that
	// long in IMAP IDLE for new mail. Off by default: the hub polls its
	// channels one after another, so a waiting Sync would delay the others.
	idleWait time.Duration
}

var (
	_ connectors.Channel = (*channel)(nil)
	_ connectors.Poller  = (*channel)(nil)
	_ Replier            = (*channel)(nil)
)

// New builds an EMAIL channel from its settings.
func New(cfg connectors.Config) (connectors.Channel, error) {
	s := cfg.Settings
	c := &channel{
		imapAddr: strings.TrimSpace(s["imapAddr"]), smtpAddr: strings.TrimSpace(s["smtpAddr"]),
		username: s["username"], password: s["password"],
		tls: strings.ToLower(strings.TrimSpace(s["tls"])), mailbox: strings.TrimSpace(s["mailbox"]),
		now: cfg.Now,
	}
	if c.imapAddr == "" || c.smtpAddr == "" || c.username == "" || c.password == "" || strings.TrimSpace(s["from"]) == "" {
		return nil, errors.New("email: imapAddr, smtpAddr, username, password and from are required")
	}
	for _, a := range []string{c.imapAddr, c.smtpAddr} {
		if err := hostPort(a); err != nil {
			return nil, fmt.Errorf("email: %q %w", a, err)
		}
	}
	from, err := mail.ParseAddress(strings.TrimSpace(s["from"]))
	if err != nil || !strings.Contains(from.Address, "@") {
		return nil, fmt.Errorf("email: from %q is not an email address", s["from"])
	}
	c.from, c.fromAddr = from, strings.ToLower(from.Address)
	if c.tls == "" {
		c.tls = TLSStartTLS
	}
	if err := tlsMode(c.tls); err != nil {
		return nil, fmt.Errorf("email: tls %w", err)
	}
	if c.mailbox == "" {
		c.mailbox = "INBOX"
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// PollEvery is how often the hub fetches the mailbox.
func (c *channel) PollEvery() time.Duration { return 30 * time.Second }

// PollKeys names the one stream: the mailbox.
func (c *channel) PollKeys() []string { return []string{c.mailbox} }

// withTimeout bounds an operation whose context has no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, opTimeout)
}

// modeFor is the TLS mode of one server: starttls on a port that only
// speaks implicit TLS (993, 465) means implicit.
func (c *channel) modeFor(addr, implicitPort string) string {
	if c.tls == TLSStartTLS {
		if _, port, err := net.SplitHostPort(addr); err == nil && port == implicitPort {
			return TLSImplicit
		}
	}
	return c.tls
}

// dial connects to addr, with TLS when mode is implicit. The connection is
// closed when ctx ends, which unblocks any protocol call using it.
func (c *channel) dial(ctx context.Context, addr, mode string) (net.Conn, *tls.Config, func() bool, error) {
	host, _, _ := net.SplitHostPort(addr)
	cfg := &tls.Config{ServerName: host, RootCAs: c.rootCAs}
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	if mode == TLSImplicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, nil, fmt.Errorf("TLS with %s failed: %w", addr, err)
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return conn, cfg, stop, nil
}

// imapSession is a logged-in IMAP connection.
type imapSession struct {
	cl      *imapclient.Client
	stop    func() bool
	newMail chan struct{} // signalled on an untagged EXISTS
}

// LoginError means a server refused the credentials.
type LoginError struct {
	Server string // "IMAP" or "SMTP"
	Addr   string
	Reason string
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("email: the %s server %s refused the login: %s", e.Server, e.Addr, e.Reason)
}

func (c *channel) openIMAP(ctx context.Context) (*imapSession, error) {
	mode := c.modeFor(c.imapAddr, "993")
	conn, cfg, stop, err := c.dial(ctx, c.imapAddr, mode)
	if err != nil {
		return nil, fmt.Errorf("email: IMAP: %w", err)
	}
	s := &imapSession{stop: stop, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		TLSConfig:   cfg,
		WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	fail := func(err error) (*imapSession, error) {
		stop()
		if s.cl != nil {
			s.cl.Close()
		} else {
			conn.Close()
		}
		return nil, ctxErr(ctx, err)
	}
	if mode == TLSStartTLS {
		s.cl, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return fail(fmt.Errorf("email: IMAP STARTTLS with %s failed (try tls=implicit on port 993): %w", c.imapAddr, err))
		}
	} else {
		s.cl = imapclient.New(conn, opts)
	}
	if err := s.cl.WaitGreeting(); err != nil {
		return fail(fmt.Errorf("email: IMAP server %s: %w", c.imapAddr, err))
	}
	if err := s.cl.Login(c.username, c.password).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return fail(&LoginError{Server: "IMAP", Addr: c.imapAddr, Reason: ie.Text})
		}
		return fail(fmt.Errorf("email: IMAP login at %s: %w", c.imapAddr, err))
	}
	return s, nil
}

// close logs out (best effort) and closes the connection.
func (s *imapSession) close(logout bool) {
	if logout {
		_ = s.cl.Logout().Wait()
	}
	s.stop()
	s.cl.Close()
}

// ctxErr prefers the context's error: a cancelled operation fails because
// of the cancellation, not because its connection was closed.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// openSMTP connects and authenticates. requireAuth makes a server that
// offers no AUTH an error (Test); Send tries without (a trusted relay).
func (c *channel) openSMTP(ctx context.Context, requireAuth bool) (*smtp.Client, func(), error) {
	mode := c.modeFor(c.smtpAddr, "465")
	conn, cfg, stop, err := c.dial(ctx, c.smtpAddr, mode)
	if err != nil {
		return nil, nil, fmt.Errorf("email: SMTP: %w", err)
	}
	var cl *smtp.Client
	if mode == TLSStartTLS {
		cl, err = smtp.NewClientStartTLS(conn, cfg)
		if err != nil {
			stop()
			conn.Close()
			return nil, nil, ctxErr(ctx, fmt.Errorf("email: SMTP STARTTLS with %s failed (try tls=implicit on port 465): %w", c.smtpAddr, err))
		}
	} else {
		cl = smtp.NewClient(conn)
	}
	cl.CommandTimeout = time.Minute
	cl.SubmissionTimeout = 5 * time.Minute
	done := func() {
		stop()
		cl.Close()
	}
	if err := cl.Hello("localhost"); err != nil {
		done()
		return nil, nil, ctxErr(ctx, fmt.Errorf("email: SMTP server %s: %w", c.smtpAddr, err))
	}
	if ok, _ := cl.Extension("AUTH"); !ok {
		if requireAuth {
			done()
			return nil, nil, fmt.Errorf("email: the SMTP server %s offers no login (AUTH) on this connection; it may need tls=starttls or implicit", c.smtpAddr)
		}
		return cl, done, nil
	}
	var a sasl.Client
	switch {
	case cl.SupportsAuth(sasl.Plain):
		a = sasl.NewPlainClient("", c.username, c.password)
	case cl.SupportsAuth(sasl.Login):
		a = sasl.NewLoginClient(c.username, c.password)
	default:
		done()
		return nil, nil, fmt.Errorf("email: the SMTP server %s offers no login mechanism kefuhub speaks (PLAIN, LOGIN)", c.smtpAddr)
	}
	if err := cl.Auth(a); err != nil {
		done()
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code/100 == 5 {
			return nil, nil, &LoginError{Server: "SMTP", Addr: c.smtpAddr, Reason: fmt.Sprintf("%d %s", se.Code, se.Message)}
		}
		return nil, nil, ctxErr(ctx, fmt.Errorf("email: SMTP login at %s: %w", c.smtpAddr, err))
	}
	return cl, done, nil
}

// Test logs in to IMAP and opens the mailbox, then connects and logs in to
// SMTP.
func (c *channel) Test(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	s, err := c.openIMAP(ctx)
	if err != nil {
		return err
	}
	if _, err := s.cl.Select(c.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		s.close(false)
		var ie *imap.Error
		if errors.As(err, &ie) {
			return fmt.Errorf("email: cannot open the mailbox %q: %s", c.mailbox, ie.Text)
		}
		return ctxErr(ctx, fmt.Errorf("email: cannot open the mailbox %q: %w", c.mailbox, err))
	}
	s.close(true)
	cl, done, err := c.openSMTP(ctx, true)
	if err != nil {
		return err
	}
	defer done()
	_ = cl.Quit()
	return nil
}
