package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/consensus"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// Version is the orch version, set at build time.
var Version = "dev"

// DefaultHistoryBytes is the default byte budget of a master's watch history: the
// objects its events keep (an update keeps the new and the previous state).
const DefaultHistoryBytes = 64 << 20

// Config configures one master.
type Config struct {
	Name            string
	DataDir         string
	APIAddr         string // host:port the API listens on
	RaftAddr        string
	GossipAddr      string
	BootstrapExpect int
	Join            []string
	Logger          *slog.Logger

	// Tuning; zero values are production defaults.
	HistorySize                                           int
	HistoryBytes                                          int64 // watch history byte budget
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	SnapshotThreshold                                     uint64
	SnapshotInterval                                      time.Duration
	GossipLocal                                           bool
	Nodes                                                 NodeConfig
	// EventTTL is how long Events are kept after they last happened (1 h).
	EventTTL time.Duration
}

// Master is a running master: Raft node, state store, API server.
type Master struct {
	cfg   Config
	log   *slog.Logger
	store *Store
	hub   *Hub
	node  *consensus.Node
	api   *API
	srv   *http.Server
	ln    net.Listener
	url   string

	// The internal port (Raft and master-to-master RPCs), never the API port.
	internalLn  *transport.InternalListener
	internalSrv *http.Server
	metrics     *metrics

	beats        heartbeats
	leaderMu     sync.Mutex
	leaderCancel context.CancelFunc
	leaderTerm   uint64 // the term this master leads in; 0 when it does not
	done         chan struct{}
}

// Start starts a master and returns once its API is listening. Leadership, cluster
// formation and joining go on in the background.
func Start(cfg Config) (*Master, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg.Nodes.defaults()
	if cfg.HistorySize == 0 {
		cfg.HistorySize = 100_000
	}
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	log := cfg.Logger.With("master", cfg.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on API address %s: %w", cfg.APIAddr, err)
	}
	iln, err := transport.ListenInternal(cfg.RaftAddr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	m := &Master{cfg: cfg, log: log, store: NewStore(), hub: NewHub(cfg.HistorySize, cfg.HistoryBytes), ln: ln,
		url: "http://" + ln.Addr().String(), internalLn: iln, done: make(chan struct{})}
	fsm := NewFSM(m.store, m.hub, log)
	m.node, err = consensus.New(consensus.Config{
		Name: cfg.Name, DataDir: cfg.DataDir, RaftAddr: cfg.RaftAddr, GossipAddr: cfg.GossipAddr,
		APIAddr: m.url, BootstrapExpect: cfg.BootstrapExpect, Join: cfg.Join, FSM: fsm, Logger: log,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.LeaderLeaseTimeout, SnapshotThreshold: cfg.SnapshotThreshold,
		SnapshotInterval: cfg.SnapshotInterval, GossipLocal: cfg.GossipLocal,
		OnLeadership: m.leadershipChanged,
		StreamLayer:  consensus.NewStreamLayer(iln.Raft(), transport.DialRaft),
	})
	if err != nil {
		ln.Close()
		iln.Close()
		return nil, err
	}
	m.api = newAPI(m.store, m.hub, m.node, transport.Client(), transport.InternalClient(), log)
	m.api.NotReadyTolerationSeconds, m.api.UnreachableTolerationSeconds = cfg.Nodes.NotReadyTolerationSeconds, cfg.Nodes.UnreachableTolerationSeconds
	m.metrics = newMetrics(m)
	m.api.observeCommit = m.metrics.commit.Observe
	m.srv = transport.Server(m.handler())
	m.internalSrv = transport.InternalServer(m.internalHandler())
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	go func() {
		if err := m.internalSrv.Serve(iln.RPC()); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("internal RPC server stopped", "err", err)
		}
	}()
	log.Info("master started", "api", m.url, "raft", cfg.RaftAddr, "gossip", cfg.GossipAddr)
	return m, nil
}

// URL is the API base URL.
func (m *Master) URL() string { return m.url }

// Node is the consensus node (tests and stats).
func (m *Master) Node() *consensus.Node { return m.node }

// API is the master's API implementation.
func (m *Master) API() *API { return m.api }

func (m *Master) handler() http.Handler {
	mux := http.NewServeMux()
	limit := connect.WithReadMaxBytes(MaxRequestBytes)
	counted := connect.WithInterceptors(m.metrics.interceptor())
	m.api.mountKinds(mux, limit, counted)
	mux.Handle(orchv1connect.NewClusterServiceHandler(&clusterService{m: m}, limit, counted, strictJSON()))
	mux.Handle(orchv1connect.NewNodeAgentServiceHandler(&nodeAgentService{m: m}, limit, counted, strictJSON()))
	mux.Handle("GET /metrics", m.metrics.handler())
	names := append([]string{orchv1connect.ClusterServiceName, orchv1connect.NodeAgentServiceName}, kindServiceNames...)
	reflector := grpcreflect.NewStaticReflector(names...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := m.node.Leader(); !ok {
			http.Error(w, "no leader", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// internalHandler serves the master-to-master RPCs on the internal port only.
func (m *Master) internalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(orchv1connect.NewInternalServiceHandler(&internalService{m: m}, connect.WithReadMaxBytes(maxInternalRPC)))
	return mux
}

// leadershipChanged switches the leader-only work on and off. The consensus layer calls
// it with true only after a barrier, so the store holds every committed write.
func (m *Master) leadershipChanged(leader bool) {
	m.leaderMu.Lock()
	defer m.leaderMu.Unlock()
	if m.leaderCancel != nil {
		m.leaderCancel()
		m.leaderCancel = nil
	}
	m.leaderTerm = 0
	m.metrics.leaderChanges.Inc()
	if !leader {
		m.log.Info("leadership lost")
		return
	}
	// The term read before and after the leadership check is the term this master leads
	// in; if it moved, leadership is changing again and the next call settles it.
	r := m.node.Raft()
	term := r.CurrentTerm()
	if !m.node.IsLeader() || r.CurrentTerm() != term {
		m.log.Info("leadership changed while being established")
		return
	}
	ctx, cancel := context.WithCancel(withLeaderTerm(context.Background(), term))
	m.leaderCancel, m.leaderTerm = cancel, term
	m.log.Info("leadership established", "term", term)
	go m.establishLeadership(ctx)
}

// establishLeadership makes sure the namespaces every cluster has exist, then starts
// the leader-only work: node monitoring, the scheduler and the controllers.
func (m *Master) establishLeadership(ctx context.Context) {
	defer func() {
		if ctx.Err() == nil {
			go m.monitorNodes(ctx)
			go m.runScheduler(ctx)
			go m.runControllers(ctx)
		}
	}()
	for _, ns := range clusterNamespaces {
		for ctx.Err() == nil {
			v := m.store.View()
			if _, ok := v.Get(api.NamespaceKind, ns); ok {
				break
			}
			o := &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: ns}}
			_, err := m.api.Create(ctx, api.NamespaceKind, o)
			var ce *connect.Error
			if err == nil || (errors.As(err, &ce) && ce.Code() == connect.CodeAlreadyExists) {
				break
			}
			m.log.Warn("create namespace", "namespace", ns, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// asLeader returns ctx marked with this master's leadership term, so that the writes
// made under it are fenced; ok is false when this master does not lead.
func (m *Master) asLeader(ctx context.Context) (context.Context, bool) {
	m.leaderMu.Lock()
	term := m.leaderTerm
	m.leaderMu.Unlock()
	if term == 0 {
		return ctx, false
	}
	return withLeaderTerm(ctx, term), true
}

// Close shuts the master down gracefully: the API stops taking requests, open
// streams end, the node leaves gossip and stops Raft. It stays in the Raft
// configuration, so a restart from the same data dir rejoins.
func (m *Master) Close() error {
	select {
	case <-m.done:
		return nil
	default:
		close(m.done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	m.leadershipChanged(false)
	err := m.node.Shutdown()
	m.internalSrv.Close()
	m.internalLn.Close()
	return err
}

// clusterService serves ClusterService.
type clusterService struct{ m *Master }

func master(mb consensus.Member) *orchv1.Master {
	return &orchv1.Master{Name: mb.Name, ApiAddress: mb.APIAddr, RaftAddress: mb.RaftAddr, GossipAddress: mb.GossipAddr,
		Status: mb.Status, Leader: mb.Leader, Voter: mb.Voter}
}

func (s *clusterService) Members(ctx context.Context, _ *connect.Request[orchv1.MembersRequest]) (*connect.Response[orchv1.MembersResponse], error) {
	out := &orchv1.MembersResponse{}
	for _, mb := range s.m.node.Members() {
		out.Masters = append(out.Masters, master(mb))
	}
	return connect.NewResponse(out), nil
}

func (s *clusterService) Leader(ctx context.Context, _ *connect.Request[orchv1.LeaderRequest]) (*connect.Response[orchv1.LeaderResponse], error) {
	l, ok := s.m.node.Leader()
	if !ok {
		return nil, connect.NewError(connect.CodeUnavailable, errNoLeader)
	}
	return connect.NewResponse(&orchv1.LeaderResponse{Leader: master(l)}), nil
}

func (s *clusterService) RaftConfiguration(ctx context.Context, _ *connect.Request[orchv1.RaftConfigurationRequest]) (*connect.Response[orchv1.RaftConfigurationResponse], error) {
	servers, err := s.m.node.Configuration()
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	out := &orchv1.RaftConfigurationResponse{AppliedIndex: s.m.node.AppliedIndex()}
	for _, sv := range servers {
		out.Servers = append(out.Servers, &orchv1.RaftServer{Id: sv.ID, Address: sv.Address, Suffrage: sv.Suffrage, Leader: sv.Leader})
	}
	return connect.NewResponse(out), nil
}

func (s *clusterService) RemoveMaster(ctx context.Context, r *connect.Request[orchv1.RemoveMasterRequest]) (*connect.Response[orchv1.RemoveMasterResponse], error) {
	name := r.Msg.GetName()
	if name == "" {
		return nil, invalid("name: Required value")
	}
	if s.m.node.IsLeader() {
		if err := s.m.node.RemoveServer(ctx, name); err != nil {
			if errors.Is(err, consensus.ErrNotLeader) {
				return nil, connect.NewError(connect.CodeUnavailable, err)
			}
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		}
		return connect.NewResponse(&orchv1.RemoveMasterResponse{}), nil
	}
	l, ok := s.m.node.Leader()
	if !ok {
		return nil, connect.NewError(connect.CodeUnavailable, errNoLeader)
	}
	c := orchv1connect.NewClusterServiceClient(s.m.api.http, l.APIAddr)
	resp, err := c.RemoveMaster(ctx, r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp.Msg), nil
}

func (s *clusterService) Snapshot(ctx context.Context, _ *connect.Request[orchv1.SnapshotRequest], st *connect.ServerStream[orchv1.SnapshotResponse]) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.m.node.Snapshot(pw)) }()
	defer pr.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			if serr := st.Send(&orchv1.SnapshotResponse{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return connect.NewError(connect.CodeUnavailable, fmt.Errorf("snapshot: %w", err))
		}
	}
}

func (s *clusterService) Version(ctx context.Context, _ *connect.Request[orchv1.VersionRequest]) (*connect.Response[orchv1.VersionResponse], error) {
	return connect.NewResponse(&orchv1.VersionResponse{Version: Version, Name: s.m.cfg.Name}), nil
}

// internalService serves what followers ask of the leader.
type internalService struct{ m *Master }

var errNotLeaderHere = connect.NewError(connect.CodeUnavailable, errors.New("this master is not the leader"))

func (s *internalService) Apply(ctx context.Context, r *connect.Request[orchv1.ApplyRequest]) (*connect.Response[orchv1.ApplyResponse], error) {
	if !s.m.node.IsLeader() {
		return nil, errNotLeaderHere
	}
	if err := checkCommand(r.Msg.GetCommand()); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("refused forwarded command: %w", err))
	}
	obj, index, err := s.m.api.applyLocal(ctx, r.Msg.GetCommand())
	if err != nil {
		if retryable(err) {
			return nil, errNotLeaderHere
		}
		return nil, err
	}
	if obj == nil {
		return connect.NewResponse(&orchv1.ApplyResponse{Index: index}), nil
	}
	k, _ := api.KindOf(obj)
	b, err := proto.Marshal(obj)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return connect.NewResponse(&orchv1.ApplyResponse{Index: index, Kind: k.Name, Object: b}), nil
}

func (s *internalService) ReadIndex(ctx context.Context, _ *connect.Request[orchv1.ReadIndexRequest]) (*connect.Response[orchv1.ReadIndexResponse], error) {
	if !s.m.node.IsLeader() {
		return nil, errNotLeaderHere
	}
	i, err := s.m.node.ReadIndex(ctx)
	if err != nil {
		return nil, errNotLeaderHere
	}
	return connect.NewResponse(&orchv1.ReadIndexResponse{Index: i}), nil
}

// WaitReady waits until the cluster has a leader and this master serves a linearizable
// read of the namespaces every cluster has.
func (m *Master) WaitReady(ctx context.Context) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := m.api.Get(rctx, api.NamespaceKind, &orchv1.GetRequest{Name: clusterNamespaces[len(clusterNamespaces)-1]})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
