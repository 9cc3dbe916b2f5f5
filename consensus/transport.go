package consensus

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	transportMaxPool = 3
	transportTimeout = 10 * time.Second
)

// newTransport builds the raft transport: plain TCP on cfg.RaftAddr, or the
// caller's StreamLayer when set (that is where mutual TLS plugs in).
func newTransport(cfg *Config, logger hclog.Logger) (*raft.NetworkTransport, error) {
	stream := cfg.StreamLayer
	if stream == nil {
		var err error
		if stream, err = listenTCP(cfg.RaftAddr); err != nil {
			return nil, err
		}
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &trackingStream{StreamLayer: stream, conns: map[*trackedConn]struct{}{}},
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger,
	}), nil
}

// NewStreamLayer makes a raft.StreamLayer of a listener and a dialer (the caller's
// shared internal port). ln.Addr() must be the address other masters dial.
func NewStreamLayer(ln net.Listener, dial func(addr string, timeout time.Duration) (net.Conn, error)) raft.StreamLayer {
	return &dialStream{Listener: ln, dial: dial}
}

type dialStream struct {
	net.Listener
	dial func(addr string, timeout time.Duration) (net.Conn, error)
}

func (s *dialStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(addr), timeout)
}

// tcpStream is raft.TCPStreamLayer, which raft only builds inside
// NewTCPTransport, where it cannot be wrapped.
type tcpStream struct {
	net.Listener
	advertise net.Addr
}

func listenTCP(addr string) (*tcpStream, error) {
	advertise, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve raft address %s: %w", addr, err)
	}
	if advertise.IP == nil || advertise.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft address %s: need an address other masters can reach, not a wildcard", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", addr, err)
	}
	return &tcpStream{Listener: l, advertise: advertise}, nil
}

func (t *tcpStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

func (t *tcpStream) Addr() net.Addr { return t.advertise }

// trackingStream closes the connections it accepted when it is closed:
// raft's NetworkTransport.Close only closes the listener and would leave one
// handler goroutine per inbound connection blocked in Read until the peer
// hangs up.
type trackingStream struct {
	raft.StreamLayer

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

func (s *trackingStream) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *trackingStream) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	err := s.StreamLayer.Close()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

type trackedConn struct {
	net.Conn
	s *trackingStream
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
