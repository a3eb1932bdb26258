package testenv

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPMessage is one message an SMTP server accepted.
type SMTPMessage struct {
	From string   // MAIL FROM address
	To   []string // RCPT TO addresses
	Data []byte   // the message as sent after DATA (headers and body, CRLF line ends, dot-unstuffed)
	// AuthUser is the user that authenticated with AUTH PLAIN ("" without AUTH).
	AuthUser string
	Helo     string
}

// Header parses the message's header.
func (m SMTPMessage) Header() (mail.Header, error) {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return nil, err
	}
	return msg.Header, nil
}

// Body returns the message's body (after the blank line).
func (m SMTPMessage) Body() string {
	s := string(m.Data)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return s[i+4:]
	}
	return ""
}

// SMTPOption configures StartSMTP.
type SMTPOption func(*SMTP)

// WithSMTPAuth makes the server offer AUTH PLAIN and require it, with that user and password,
// before MAIL FROM.
func WithSMTPAuth(user, password string) SMTPOption {
	return func(s *SMTP) { s.user, s.password = user, password }
}

// WithSMTPReject makes the server answer RCPT TO addr with code and text (e.g. 550 "no such
// user" for a permanent failure, 451 for a temporary one).
func WithSMTPReject(addr string, code int, text string) SMTPOption {
	return func(s *SMTP) { s.reject[strings.ToLower(addr)] = fmt.Sprintf("%d %s", code, text) }
}

// SMTP is a small SMTP server (RFC 5321: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT) over real TCP on 127.0.0.1 that records the messages it accepts. It is for tests of
// code that sends mail with net/smtp or any other client.
type SMTP struct {
	ln       net.Listener
	user     string
	password string
	reject   map[string]string

	mu       sync.Mutex
	messages []SMTPMessage
	changed  chan struct{} // closed and replaced when a message arrives
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// StartSMTP starts an SMTP server on a free port of 127.0.0.1 and stops it when the test ends.
func StartSMTP(t testing.TB, opts ...SMTPOption) *SMTP {
	t.Helper()
	s, err := NewSMTP(opts...)
	if err != nil {
		t.Fatalf("start SMTP server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewSMTP starts an SMTP server on a free port of 127.0.0.1; Close stops it.
func NewSMTP(opts ...SMTPOption) (*SMTP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SMTP{ln: ln, reject: map[string]string{}, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for _, o := range opts {
		o(s)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the server's host:port.
func (s *SMTP) Addr() string { return s.ln.Addr().String() }

// Messages returns the messages accepted so far, oldest first.
func (s *SMTP) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SMTPMessage, len(s.messages))
	copy(out, s.messages)
	return out
}

// WaitMessages waits until at least n messages have been accepted, at most timeout, and
// returns them; it fails the test on timeout.
func (s *SMTP) WaitMessages(t testing.TB, n int, timeout time.Duration) []SMTPMessage {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.messages), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("SMTP server: %d message(s) after %s, want %d", got, timeout, n)
		}
	}
}

// Close stops the server and closes open connections.
func (s *SMTP) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// accept takes connections and serves each on its own goroutine until the listener closes.
func (s *SMTP) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

// session is one client connection and what the client has said on it so far.
type session struct {
	srv  *SMTP
	conn net.Conn
	tp   *textproto.Conn

	helo     string
	authUser string
	from     string
	to       []string
	inMail   bool
}

// serve speaks SMTP on c until the client quits or the connection fails.
func (s *SMTP) serve(c net.Conn) {
	sess := &session{srv: s, conn: c, tp: textproto.NewConn(c)}
	// The connection ends either way; the client sees any failure on its side.
	_ = sess.run()
}

// run sends the greeting and then answers commands until QUIT (nil) or a read or write fails.
func (s *session) run() error {
	if err := s.tp.PrintfLine("220 dominion-testenv ESMTP ready"); err != nil {
		return fmt.Errorf("send greeting: %w", err)
	}
	for {
		verb, arg, err := s.readCommand()
		if err != nil {
			return err
		}
		if verb == "QUIT" {
			s.reply("221 bye")
			return nil
		}
		if err := s.handle(verb, arg); err != nil {
			return err
		}
	}
}

// readCommand reads the next command line, waiting at most a minute, and splits it into an
// upper-case verb and its argument.
func (s *session) readCommand() (verb, arg string, err error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := s.tp.ReadLine()
	if err != nil {
		return "", "", fmt.Errorf("read command: %w", err)
	}
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), arg, nil
}

// handle answers one command other than QUIT; an error means the connection is unusable.
func (s *session) handle(verb, arg string) error {
	switch verb {
	case "EHLO", "HELO":
		s.hello(verb, arg)
	case "AUTH":
		return s.auth(arg)
	case "MAIL":
		s.mail(arg)
	case "RCPT":
		s.rcpt(arg)
	case "DATA":
		return s.data()
	case "RSET":
		s.resetMail()
		s.reply("250 OK")
	case "NOOP":
		s.reply("250 OK")
	default:
		s.reply("502 command not implemented")
	}
	return nil
}

// reply sends one reply line. A failed write is not reported here: the next read fails too.
func (s *session) reply(format string, args ...any) {
	_ = s.tp.PrintfLine(format, args...)
}

// resetMail forgets the mail transaction in progress.
func (s *session) resetMail() {
	s.from, s.to, s.inMail = "", nil, false
}

// hello answers EHLO or HELO and starts the session over, forgetting AUTH and any mail.
func (s *session) hello(verb, domain string) {
	if domain == "" {
		s.reply("501 %s needs a domain", verb)
		return
	}
	s.helo, s.authUser = domain, ""
	s.resetMail()
	if verb == "HELO" {
		s.reply("250 dominion-testenv")
		return
	}
	lines := s.srv.extensions(domain)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		s.reply("250%s%s", sep, l)
	}
}

// extensions returns the lines of the EHLO reply: the greeting, then the extensions offered.
func (s *SMTP) extensions(domain string) []string {
	lines := []string{"dominion-testenv greets " + domain, "8BITMIME", "PIPELINING"}
	if s.user != "" {
		lines = append(lines, "AUTH PLAIN")
	}
	return lines
}

// auth answers AUTH PLAIN, with the credentials on the command line or after a 334 prompt.
func (s *session) auth(arg string) error {
	if s.srv.user == "" {
		s.reply("502 AUTH not offered")
		return nil
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		s.reply("504 only PLAIN is offered")
		return nil
	}
	if initial == "" {
		s.reply("334 ")
		line, err := s.tp.ReadLine()
		if err != nil {
			return fmt.Errorf("read AUTH PLAIN response: %w", err)
		}
		initial = line
	}
	user, password, ok := decodePlain(initial)
	switch {
	case !ok:
		s.reply("501 malformed AUTH PLAIN")
	case user != s.srv.user || password != s.srv.password:
		s.reply("535 5.7.8 authentication failed")
	default:
		s.authUser = user
		s.reply("235 2.7.0 authenticated")
	}
	return nil
}

// decodePlain decodes base64 AUTH PLAIN credentials ("authzid\x00user\x00password").
func decodePlain(b64 string) (user, password string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// mail answers MAIL FROM and starts a new mail transaction.
func (s *session) mail(arg string) {
	if s.helo == "" {
		s.reply("503 say EHLO first")
		return
	}
	if s.srv.user != "" && s.authUser == "" {
		s.reply("530 5.7.0 authentication required")
		return
	}
	addr, ok := pathArg(arg, "FROM:")
	if !ok {
		s.reply("501 syntax: MAIL FROM:<address>")
		return
	}
	s.from, s.to, s.inMail = addr, nil, true
	s.reply("250 OK")
}

// rcpt answers RCPT TO and adds the recipient unless the server was told to reject it.
func (s *session) rcpt(arg string) {
	if !s.inMail {
		s.reply("503 need MAIL first")
		return
	}
	addr, ok := pathArg(arg, "TO:")
	if !ok || addr == "" {
		s.reply("501 syntax: RCPT TO:<address>")
		return
	}
	if rej, bad := s.srv.rejection(addr); bad {
		s.reply("%s", rej)
		return
	}
	s.to = append(s.to, addr)
	s.reply("250 OK")
}

// rejection returns the reply set with WithSMTPReject for addr, if any.
func (s *SMTP) rejection(addr string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rej, bad := s.reject[strings.ToLower(addr)]
	return rej, bad
}

// data answers DATA: it reads the message, records it and ends the mail transaction.
func (s *session) data() error {
	if !s.inMail || len(s.to) == 0 {
		s.reply("503 need MAIL and RCPT first")
		return nil
	}
	s.reply("354 end data with <CR><LF>.<CR><LF>")
	data, err := io.ReadAll(s.tp.DotReader())
	if err != nil {
		return fmt.Errorf("read DATA: %w", err)
	}
	// DotReader turns CRLF into LF; keep the wire form.
	data = []byte(strings.ReplaceAll(string(data), "\n", "\r\n"))
	s.srv.record(SMTPMessage{From: s.from, To: s.to, Data: data, AuthUser: s.authUser, Helo: s.helo})
	s.resetMail()
	s.reply("250 OK queued")
	return nil
}

// record stores an accepted message and wakes WaitMessages.
func (s *SMTP) record(m SMTPMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// pathArg parses "FROM:<a@b> PARAMS" (prefix "FROM:") and returns a@b.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}
