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

// session is the state of one connection.
type session struct {
	helo     string
	authUser string
	from     string
	to       []string
	inMail   bool
}

func (s *SMTP) serve(c net.Conn) {
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) bool {
		return tp.PrintfLine(format, args...) == nil
	}
	if !reply("220 dominion-testenv ESMTP ready") {
		return
	}
	var st session
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		switch verb {
		case "EHLO", "HELO":
			if arg == "" {
				reply("501 %s needs a domain", verb)
				continue
			}
			st = session{helo: arg}
			if verb == "HELO" {
				reply("250 dominion-testenv")
				continue
			}
			lines := []string{"dominion-testenv greets " + arg, "8BITMIME", "PIPELINING"}
			if s.user != "" {
				lines = append(lines, "AUTH PLAIN")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				reply("250%s%s", sep, l)
			}
		case "AUTH":
			if s.user == "" {
				reply("502 AUTH not offered")
				continue
			}
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 only PLAIN is offered")
				continue
			}
			if initial == "" {
				reply("334 ")
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 malformed AUTH PLAIN")
				continue
			}
			if parts[1] != s.user || parts[2] != s.password {
				reply("535 5.7.8 authentication failed")
				continue
			}
			st.authUser = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if st.helo == "" {
				reply("503 say EHLO first")
				continue
			}
			if s.user != "" && st.authUser == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			addr, ok := pathArg(arg, "FROM:")
			if !ok {
				reply("501 syntax: MAIL FROM:<address>")
				continue
			}
			st.from, st.to, st.inMail = addr, nil, true
			reply("250 OK")
		case "RCPT":
			if !st.inMail {
				reply("503 need MAIL first")
				continue
			}
			addr, ok := pathArg(arg, "TO:")
			if !ok || addr == "" {
				reply("501 syntax: RCPT TO:<address>")
				continue
			}
			s.mu.Lock()
			rej, bad := s.reject[strings.ToLower(addr)]
			s.mu.Unlock()
			if bad {
				reply("%s", rej)
				continue
			}
			st.to = append(st.to, addr)
			reply("250 OK")
		case "DATA":
			if !st.inMail || len(st.to) == 0 {
				reply("503 need MAIL and RCPT first")
				continue
			}
			reply("354 end data with <CR><LF>.<CR><LF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			// DotReader turns CRLF into LF; keep the wire form.
			data = []byte(strings.ReplaceAll(string(data), "\n", "\r\n"))
			s.mu.Lock()
			s.messages = append(s.messages, SMTPMessage{From: st.from, To: st.to, Data: data, AuthUser: st.authUser, Helo: st.helo})
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			st.from, st.to, st.inMail = "", nil, false
			reply("250 OK queued")
		case "RSET":
			st.from, st.to, st.inMail = "", nil, false
			reply("250 OK")
		case "NOOP":
			reply("250 OK")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
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
