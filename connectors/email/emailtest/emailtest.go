// Package emailtest runs a mail provider in the test process, in the spirit
// of net/http/httptest: an IMAP server (go-imap's imapserver with its
// in-memory backend) and an SMTP server (go-smtp) on 127.0.0.1, speaking
// the real protocols over real sockets, with one user. Deliver puts a
// message in the user's INBOX as an MTA would; Sent returns what the SMTP
// server accepted. Both servers allow plaintext logins (tls=none).
package emailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SentMail is a message the SMTP server accepted.
type SentMail struct {
	From string
	To   []string
	Data []byte
}

// Server is an IMAP and an SMTP server sharing one user.
type Server struct {
	// IMAPAddr and SMTPAddr are the servers' host:port.
	IMAPAddr, SMTPAddr string
	// IMAPSAddr and SMTPSAddr speak implicit TLS (NewTLS only).
	IMAPSAddr, SMTPSAddr string
	// CertPool trusts the servers' certificate (NewTLS only).
	CertPool           *x509.CertPool
	Username, Password string

	mem  *imapmemserver.Server
	user *imapmemserver.User
	imap *imapserver.Server
	smtp *smtp.Server
	lns  []net.Listener
	wg   sync.WaitGroup

	mu        sync.Mutex
	sent      []SentMail
	rcptErrs  map[string]*smtp.SMTPError
	dataErrs  []*smtp.SMTPError
	closed    bool
	imapAlive bool
}

// New starts both servers with one user whose INBOX is empty, without TLS.
func New(username, password string) (*Server, error) {
	return start(username, password, false)
}

// NewTLS is New with TLS: STARTTLS on IMAPAddr and SMTPAddr, implicit TLS
// on IMAPSAddr and SMTPSAddr, and no login before TLS.
func NewTLS(username, password string) (*Server, error) {
	return start(username, password, true)
}

func start(username, password string, withTLS bool) (_ *Server, err error) {
	s := &Server{Username: username, Password: password, rcptErrs: map[string]*smtp.SMTPError{}, imapAlive: true}
	defer func() {
		if err != nil {
			for _, l := range s.lns {
				l.Close()
			}
		}
	}()
	var tlsConfig *tls.Config
	if withTLS {
		if tlsConfig, s.CertPool, err = selfSigned(); err != nil {
			return nil, err
		}
	}

	s.mem = imapmemserver.New()
	s.user = imapmemserver.NewUser(username, password)
	if err := s.user.Create("INBOX", nil); err != nil {
		return nil, err
	}
	s.mem.AddUser(s.user)
	quiet := log.New(io.Discard, "", 0)
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		TLSConfig:    tlsConfig,
		InsecureAuth: !withTLS,
		Logger:       quiet,
	})
	s.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	s.smtp.Domain = "localhost"
	s.smtp.TLSConfig = tlsConfig
	s.smtp.AllowInsecureAuth = !withTLS
	s.smtp.ReadTimeout, s.smtp.WriteTimeout = 30*time.Second, 30*time.Second
	s.smtp.MaxMessageBytes = 10 << 20
	s.smtp.ErrorLog = quiet

	listen := func(addr *string, implicit bool) (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.lns = append(s.lns, l)
		*addr = l.Addr().String()
		if implicit {
			return tls.NewListener(l, tlsConfig), nil
		}
		return l, nil
	}
	type srv struct {
		serve func(net.Listener) error
		addr  *string
		tls   bool
	}
	all := []srv{{s.imap.Serve, &s.IMAPAddr, false}, {s.smtp.Serve, &s.SMTPAddr, false}}
	if withTLS {
		all = append(all, srv{s.imap.Serve, &s.IMAPSAddr, true}, srv{s.smtp.Serve, &s.SMTPSAddr, true})
	}
	ls := make([]net.Listener, len(all))
	for i, a := range all {
		if ls[i], err = listen(a.addr, a.tls); err != nil {
			return nil, err
		}
	}
	for i, a := range all {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = a.serve(ls[i]) }()
	}
	return s, nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "emailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool, nil
}

// Settings are an EMAIL channel's settings for this server, sending as
// from: tls=none for New's servers, tls=starttls for NewTLS's.
func (s *Server) Settings(from string) map[string]string {
	mode := "none"
	if s.CertPool != nil {
		mode = "starttls"
	}
	return map[string]string{
		"imapAddr": s.IMAPAddr, "smtpAddr": s.SMTPAddr,
		"username": s.Username, "password": s.Password,
		"from": from, "tls": mode, "mailbox": "INBOX",
	}
}

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// Deliver appends a raw message to the user's INBOX, as an MTA would.
func (s *Server) Deliver(raw []byte) error {
	return s.DeliverAt(raw, time.Now())
}

// DeliverAt is Deliver with the message's arrival time (INTERNALDATE).
func (s *Server) DeliverAt(raw []byte, at time.Time) error {
	_, err := s.user.Append("INBOX", literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Time: at})
	return err
}

// RecreateInbox deletes and re-creates the INBOX, as a server rebuilding
// its index does: its UIDVALIDITY changes and UIDs start again at 1.
func (s *Server) RecreateInbox() error {
	if err := s.user.Delete("INBOX"); err != nil {
		return err
	}
	return s.user.Create("INBOX", nil)
}

// StopIMAP takes the IMAP server down (connections are refused), leaving
// SMTP up.
func (s *Server) StopIMAP() {
	s.mu.Lock()
	alive := s.imapAlive
	s.imapAlive = false
	s.mu.Unlock()
	if alive {
		_ = s.imap.Close()
	}
}

// RejectRecipient makes RCPT TO addr fail with code (e.g. 550, 450).
func (s *Server) RejectRecipient(addr string, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErrs[strings.ToLower(addr)] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: message}
}

// FailNextData makes the next message's DATA fail with code.
func (s *Server) FailNextData(code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErrs = append(s.dataErrs, &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: message})
}

// Sent returns the messages the SMTP server accepted, in order.
func (s *Server) Sent() []SentMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMail, len(s.sent))
	for i, m := range s.sent {
		out[i] = SentMail{From: m.From, To: append([]string(nil), m.To...), Data: bytes.Clone(m.Data)}
	}
	return out
}

// Close stops both servers.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.StopIMAP()
	_ = s.smtp.Close()
	s.wg.Wait()
}

// session is one SMTP connection. Like a submission server, it wants AUTH
// (PLAIN) before MAIL.
type session struct {
	srv    *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) || username != se.srv.Username || password != se.srv.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.srv.mu.Lock()
	e := se.srv.rcptErrs[strings.ToLower(to)]
	se.srv.mu.Unlock()
	if e != nil {
		return e
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.srv.mu.Lock()
	defer se.srv.mu.Unlock()
	if len(se.srv.dataErrs) > 0 {
		e := se.srv.dataErrs[0]
		se.srv.dataErrs = se.srv.dataErrs[1:]
		return e
	}
	if len(se.to) == 0 {
		return errors.New("no recipients")
	}
	se.srv.sent = append(se.srv.sent, SentMail{From: se.from, To: append([]string(nil), se.to...), Data: b})
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// String describes the server, for test logs.
func (s *Server) String() string {
	return fmt.Sprintf("emailtest(imap=%s smtp=%s user=%s)", s.IMAPAddr, s.SMTPAddr, s.Username)
}
