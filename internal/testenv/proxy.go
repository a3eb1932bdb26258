package testenv

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server, and can lose one reply: the request reaches the
// server, which runs it, and the client sees its connection close instead of the answer. A
// client cannot tell that from a server that never ran the request, and one that sends it
// again (go-redis does after a dropped connection) runs it twice; Proxy is how a test shows
// that this costs nothing.
type Proxy struct {
	addr   string
	target string
	ln     net.Listener

	mu      sync.Mutex
	marker  []byte        // the requests whose replies to drop; nil: none
	left    int           // how many more of them
	dropped chan struct{} // closed when the last was dropped
	conns   map[net.Conn]struct{}
	held    chan struct{} // while set, replies wait until it is closed (HoldReplies)
	release func()        // closes held
	wg      sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards each connection to target; it is
// stopped, and its connections closed, when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy to %s: listen: %v", target, err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the host:port clients connect to.
func (p *Proxy) Addr() string { return p.addr }

// DropReplyTo makes the proxy lose the reply to the next request that contains marker: the
// request is forwarded, and when the server's first bytes after it come back the connection
// is closed on both sides. The channel returned is closed once that happened.
func (p *Proxy) DropReplyTo(marker []byte) <-chan struct{} { return p.DropReplies(marker, 1) }

// DropReplies is DropReplyTo for the next n requests that contain marker (a client that sends
// a request again after a lost reply, and again, loses every reply); the channel is closed
// once the last was dropped.
func (p *Proxy) DropReplies(marker []byte, n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.left, p.dropped = bytes.Clone(marker), n, make(chan struct{})
	return p.dropped
}

// HoldReplies makes the proxy keep the server's replies to every connection until release is
// called: requests still reach the server, which runs them, and clients wait for answers, as
// behind a network that stalls one way. The proxy releases them when the test ends.
func (p *Proxy) HoldReplies() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	var once sync.Once
	p.held = gate
	p.release = func() {
		once.Do(func() {
			p.mu.Lock()
			if p.held == gate {
				p.held = nil
			}
			p.mu.Unlock()
			close(gate)
		})
	}
	return p.release
}

// hold waits while replies are held.
func (p *Proxy) hold() {
	p.mu.Lock()
	gate := p.held
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, s) {
			return
		}
		doomed := make(chan func(), 1) // what to do once this conn's reply is dropped
		p.wg.Add(2)
		go p.requests(c, s, doomed)
		go p.replies(s, c, doomed)
	}
}

// track records a connection pair for close; false when the proxy is closed already.
func (p *Proxy) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = c.Close()
		_ = s.Close()
		return false
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	return true
}

// requests copies client bytes to the server, marking the connection (once: its reply is
// the last thing it carries) when they hold the marker, including one split over two reads.
func (p *Proxy) requests(c, s net.Conn, doomed chan<- func()) {
	defer p.wg.Done()
	defer func() { _ = s.Close() }()
	buf, tail := make([]byte, 64<<10), []byte(nil)
	marked := false
	for {
		n, err := c.Read(buf)
		if n > 0 && !marked {
			seen := append(tail, buf[:n]...)
			if drop := p.matched(seen); drop != nil {
				doomed <- drop
				marked = true
			}
			if len(seen) > 256 {
				seen = seen[len(seen)-256:]
			}
			tail = append(tail[:0], seen...)
		}
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// matched returns what to do once the reply is dropped when seen holds the marker: close
// the channel after the last of the replies to drop.
func (p *Proxy) matched(seen []byte) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marker == nil || !bytes.Contains(seen, p.marker) {
		return nil
	}
	p.left--
	if p.left > 0 {
		return func() {}
	}
	d := p.dropped
	p.marker, p.dropped = nil, nil
	return func() { close(d) }
}

// replies copies server bytes to the client, or closes both ends instead when the connection
// was marked.
func (p *Proxy) replies(s, c net.Conn, doomed <-chan func()) {
	defer p.wg.Done()
	defer func() { _ = c.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			p.hold()
			select {
			case dropped := <-doomed: // before the client can see its connection close
				_ = s.Close()
				dropped()
				return
			default:
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	release := p.release
	p.mu.Unlock()
	if release != nil {
		release()
	}
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
