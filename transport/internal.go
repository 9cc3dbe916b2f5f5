package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The masters' internal port carries two protocols, told apart by the first byte a
// dialer writes: Raft's own framing, and HTTP/2 for the master-to-master RPCs
// (forwarded writes, read index). Neither is served on the API port, so a client of the
// API can never reach them; a connection that opens with any other byte is closed.
const (
	internalRaft byte = 'R'
	internalRPC  byte = 'I'

	// How long an accepted connection may take to send its first byte.
	internalHelloTimeout = 5 * time.Second
)

// InternalListener is a master's internal port, split by protocol.
type InternalListener struct {
	ln        net.Listener
	raft, rpc *chanListener
	closeOnce sync.Once
}

// ListenInternal listens on addr (host:port, not a wildcard: other masters dial what is
// advertised) for the masters' internal traffic.
func ListenInternal(addr string) (*InternalListener, error) {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve internal address %s: %w", addr, err)
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return nil, fmt.Errorf("internal address %s: need an address other masters can reach, not a wildcard", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on internal address %s: %w", addr, err)
	}
	l := &InternalListener{ln: ln, raft: newChanListener(tcp), rpc: newChanListener(tcp)}
	go l.serve()
	return l, nil
}

// Raft is the listener for Raft connections (the protocol byte already read).
func (l *InternalListener) Raft() net.Listener { return l.raft }

// RPC is the listener for the internal HTTP/2 RPCs.
func (l *InternalListener) RPC() net.Listener { return l.rpc }

// Close stops accepting; connections already handed out stay with their owners.
func (l *InternalListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		err = l.ln.Close()
		l.raft.close()
		l.rpc.close()
	})
	return err
}

func (l *InternalListener) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go l.route(c)
	}
}

func (l *InternalListener) route(c net.Conn) {
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(internalHelloTimeout))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	switch b[0] {
	case internalRaft:
		l.raft.deliver(c)
	case internalRPC:
		l.rpc.deliver(c)
	default:
		c.Close()
	}
}

// DialRaft opens a Raft connection to another master's internal port.
func DialRaft(addr string, timeout time.Duration) (net.Conn, error) {
	return dialInternal(context.Background(), addr, timeout, internalRaft)
}

func dialInternal(ctx context.Context, addr string, timeout time.Duration, proto byte) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// InternalClient returns the HTTP client for the internal RPCs: HTTP/2 to
// "http://<internal address>".
func InternalClient() *http.Client {
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialInternal(ctx, addr, 5*time.Second, internalRPC)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	t.HTTP2 = &http.HTTP2Config{PingTimeout: 10 * time.Second, SendPingTimeout: 10 * time.Second}
	return &http.Client{Transport: t}
}

// InternalServer returns the HTTP server for the internal RPCs (HTTP/2 only).
func InternalServer(h http.Handler) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		Protocols:         new(http.Protocols),
	}
	s.Protocols.SetUnencryptedHTTP2(true)
	return s
}

// chanListener is a net.Listener fed by InternalListener.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) close() { l.closed.Do(func() { close(l.done) }) }

// Close closes only this protocol's side; the port stays open for the other until
// InternalListener.Close.
func (l *chanListener) Close() error { l.close(); return nil }

func (l *chanListener) Addr() net.Addr { return l.addr }
