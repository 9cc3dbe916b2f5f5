package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/consensus"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
)

// raftNode is what the API needs of the consensus layer.
type raftNode interface {
	Apply(ctx context.Context, cmd []byte) (uint64, any, error)
	IsLeader() bool
	Leader() (consensus.Member, bool)
	ReadIndex(ctx context.Context) (uint64, error)
	WaitApplied(ctx context.Context, index uint64) error
}

// API implements the kind services over the store and Raft. Every write is admitted
// (defaulted and validated) on the master that receives it, then proposed through the
// leader; reads are linearizable unless the request asks for a stale read.
type API struct {
	store *Store
	hub   *Hub
	node  raftNode
	log   *slog.Logger
	http  connect.HTTPClient
	// internalHTTP reaches other masters' internal ports (forwarded writes, read index).
	internalHTTP connect.HTTPClient

	// LeaderWait bounds how long a request waits for a leader before Unavailable.
	LeaderWait time.Duration
	// BookmarkInterval is how often a watch that allows bookmarks gets one.
	BookmarkInterval time.Duration
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds are given to new pods
	// (NodeConfig); 0 gives none.
	NotReadyTolerationSeconds, UnreachableTolerationSeconds int64
	// now is the clock admission uses; tests replace it.
	now func() time.Time
	// observeCommit, when set, is told how long each local commit took.
	observeCommit func(float64)

	mu       sync.Mutex
	internal map[string]orchv1connect.InternalServiceClient
}

func newAPI(store *Store, hub *Hub, node raftNode, hc, internal connect.HTTPClient, log *slog.Logger) *API {
	return &API{
		store: store, hub: hub, node: node, http: hc, internalHTTP: internal, log: log.With("component", "api"),
		LeaderWait: 10 * time.Second, BookmarkInterval: 10 * time.Second, now: time.Now,
		internal: make(map[string]orchv1connect.InternalServiceClient),
	}
}

func (a *API) internalClient(addr string) orchv1connect.InternalServiceClient {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.internal[addr]
	if !ok {
		c = orchv1connect.NewInternalServiceClient(a.internalHTTP, "http://"+addr)
		a.internal[addr] = c
	}
	return c
}

var errNoLeader = errors.New("no leader: the masters cannot elect one right now (is a majority of them running and reachable?); retry later")

// onLeader runs fn against the leader: here when this master leads, otherwise through
// the leader's internal service on its internal (Raft) address. It waits up to
// LeaderWait for a leader to exist.
func (a *API) onLeader(ctx context.Context, local func(context.Context) error, remote func(context.Context, orchv1connect.InternalServiceClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.LeaderWait)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		var err error
		if a.node.IsLeader() {
			err = local(ctx)
		} else if l, _ := a.node.Leader(); l.RaftAddr != "" {
			err = remote(ctx, a.internalClient(l.RaftAddr))
			// A leader that shuts down resets its streams: Canceled, though this
			// request was not. The envelope makes the retry safe.
			if connect.CodeOf(err) == connect.CodeCanceled && ctx.Err() == nil {
				err = connect.NewError(connect.CodeUnavailable, err)
			}
		} else {
			err = consensus.ErrNoLeader
		}
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return connect.NewError(connect.CodeUnavailable, errNoLeader)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// retryable errors are those of a leadership change in flight.
func retryable(err error) bool {
	if errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrNoLeader) {
		return true
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code() == connect.CodeUnavailable
	}
	return false
}

type leaderTermKey struct{}

// withLeaderTerm marks ctx as the leader's own work in term: its writes are fenced.
func withLeaderTerm(ctx context.Context, term uint64) context.Context {
	return context.WithValue(ctx, leaderTermKey{}, term)
}

func leaderTerm(ctx context.Context) uint64 {
	t, _ := ctx.Value(leaderTermKey{}).(uint64)
	return t
}

// propose commits one command and returns the object it wrote. The command goes in an
// envelope with a fresh request id, so the retries after a leadership change (whose
// outcome is unknown: the first attempt may have committed) apply it at most once, and
// with the leader's term when ctx carries one.
func (a *API) propose(ctx context.Context, cmd []byte) (api.Object, error) {
	cmd, err := envelope(cmd, leaderTerm(ctx))
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	var out api.Object
	err = a.onLeader(ctx, func(ctx context.Context) error {
		var err error
		out, _, err = a.applyLocal(ctx, cmd)
		return err
	}, func(ctx context.Context, c orchv1connect.InternalServiceClient) error {
		resp, err := c.Apply(ctx, connect.NewRequest(&orchv1.ApplyRequest{Command: cmd}))
		if err != nil {
			return err
		}
		if resp.Msg.GetKind() == "" {
			out = nil
			return nil
		}
		k, err := api.LookupAPI("", resp.Msg.GetKind())
		if err != nil {
			return connect.NewError(connect.CodeInternal, err)
		}
		out = k.New()
		return proto.Unmarshal(resp.Msg.GetObject(), out)
	})
	return out, err
}

// applyLocal proposes a command on this master, which must lead.
func (a *API) applyLocal(ctx context.Context, cmd []byte) (api.Object, uint64, error) {
	start := time.Now()
	index, resp, err := a.node.Apply(ctx, cmd)
	if err == nil && a.observeCommit != nil {
		a.observeCommit(time.Since(start).Seconds())
	}
	if err != nil {
		if errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrNoLeader) {
			return nil, 0, err
		}
		return nil, 0, connect.NewError(connect.CodeUnavailable, fmt.Errorf("commit: %w", err))
	}
	r, ok := resp.(*applyResult)
	if !ok || r == nil {
		return nil, 0, connect.NewError(connect.CodeInternal, fmt.Errorf("commit at index %d returned no result", index))
	}
	return r.obj, index, r.err
}

// consistent waits until this master's state includes every write committed before the
// call: a linearizable read point.
func (a *API) consistent(ctx context.Context, stale bool) error {
	if stale {
		return nil
	}
	var index uint64
	err := a.onLeader(ctx, func(ctx context.Context) error {
		i, err := a.node.ReadIndex(ctx)
		if err != nil {
			return connect.NewError(connect.CodeUnavailable, err)
		}
		index = i
		return nil
	}, func(ctx context.Context, c orchv1connect.InternalServiceClient) error {
		resp, err := c.ReadIndex(ctx, connect.NewRequest(&orchv1.ReadIndexRequest{}))
		if err != nil {
			return err
		}
		index = resp.Msg.GetIndex()
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.node.WaitApplied(ctx, index); err != nil {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("wait for index %d: %w", index, err))
	}
	return nil
}

func (a *API) write(ctx context.Context, t CommandType, k *api.Kind, o api.Object) (api.Object, error) {
	if err := checkObjectSize(k, o); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(o)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	cmd, err := encodeCommand(t, &orchv1.WriteCommand{Kind: k.Name, Object: b})
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return a.propose(ctx, cmd)
}

// Create admits and stores a new object.
func (a *API) Create(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error) {
	if err := a.admitCreate(k, o); err != nil {
		return nil, err
	}
	return a.write(ctx, CreateCommand, k, o)
}

// Update admits and replaces an object (not its status).
func (a *API) Update(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error) {
	if err := a.admitUpdate(k, o); err != nil {
		return nil, err
	}
	return a.write(ctx, UpdateCommand, k, o)
}

// UpdateStatus replaces an object's status only.
func (a *API) UpdateStatus(ctx context.Context, k *api.Kind, o api.Object) (api.Object, error) {
	if err := a.admitName(k, o); err != nil {
		return nil, err
	}
	return a.write(ctx, UpdateStatusCommand, k, o)
}

// Delete deletes an object, or starts its deletion when something must happen first.
func (a *API) Delete(ctx context.Context, k *api.Kind, r *orchv1.DeleteRequest) (api.Object, error) {
	ns, err := a.requestNamespace(k, r.GetNamespace())
	if err != nil {
		return nil, err
	}
	if r.GetName() == "" {
		return nil, invalid("metadata.name: Required value")
	}
	if k == api.NamespaceKind && protectedNamespaces[r.GetName()] {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("namespaces %q is forbidden: this namespace may not be deleted", r.GetName()))
	}
	if p := r.GetPropagationPolicy(); !api.ValidPropagationPolicy(p) {
		return nil, invalid(field.NotSupported(field.NewPath("propagationPolicy"), p,
			[]string{api.DeletePropagationForeground, api.DeletePropagationBackground, api.DeletePropagationOrphan, "nil"}).Error())
	}
	rv := r.GetResourceVersion()
	if p := r.GetPreconditions(); p != nil && p.ResourceVersion != nil {
		if rv != "" && rv != p.GetResourceVersion() {
			return nil, invalid(fmt.Sprintf("preconditions.resourceVersion: Invalid value: %q: differs from resourceVersion %q", p.GetResourceVersion(), rv))
		}
		rv = p.GetResourceVersion()
	}
	if p := r.GetPreconditions(); p != nil && p.Uid != nil && p.GetUid() == "" {
		return nil, invalid("preconditions.uid: Invalid value: \"\": must not be empty when set")
	}
	c := &orchv1.DeleteCommand{Kind: k.Name, Namespace: ns, Name: r.GetName(), GracePeriodSeconds: r.GracePeriodSeconds,
		ResourceVersion: rv, Uid: r.GetPreconditions().GetUid(), PropagationPolicy: r.GetPropagationPolicy(),
		Now: timestamppb.New(a.now().UTC().Truncate(time.Second))}
	cmd, err := encodeCommand(DeleteCommandType, c)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return a.propose(ctx, cmd)
}

func (a *API) requestNamespace(k *api.Kind, ns string) (string, error) {
	if !k.Namespaced {
		return "", nil
	}
	if ns == "" {
		return "default", nil
	}
	return ns, nil
}

// Get reads one object.
func (a *API) Get(ctx context.Context, k *api.Kind, r *orchv1.GetRequest) (api.Object, error) {
	ns, _ := a.requestNamespace(k, r.GetNamespace())
	if r.GetName() == "" {
		return nil, invalid("name: Required value")
	}
	if err := a.consistent(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	o, ok := a.store.View().Get(k, api.Key(ns, r.GetName()))
	if !ok {
		return nil, notFound(k, r.GetName())
	}
	return o, nil
}

// selector is a parsed label and field selector.
type selector struct {
	namespace string
	labels    labels.Selector
	fields    fields.Selector
}

func parseSelector(k *api.Kind, namespace, labelSel, fieldSel string) (*selector, error) {
	s := &selector{namespace: namespace, labels: labels.Everything(), fields: fields.Everything()}
	if !k.Namespaced {
		s.namespace = ""
	}
	var err error
	if labelSel != "" {
		if s.labels, err = labels.Parse(labelSel); err != nil {
			return nil, invalid("labelSelector: " + err.Error())
		}
	}
	if fieldSel != "" {
		if s.fields, err = fields.ParseSelector(fieldSel); err != nil {
			return nil, invalid("fieldSelector: " + err.Error())
		}
		for _, r := range s.fields.Requirements() {
			if !fieldSupported(k, r.Field) {
				return nil, invalid(fmt.Sprintf("fieldSelector: field label %q is not supported for %s", r.Field, k.Plural))
			}
		}
	}
	return s, nil
}

func (s *selector) matches(o api.Object) bool {
	m := o.GetMetadata()
	if s.namespace != "" && m.GetNamespace() != s.namespace {
		return false
	}
	if !s.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	return s.fields.Empty() || s.fields.Matches(objectFields(o))
}

// List reads the objects matching the request.
func (a *API) List(ctx context.Context, k *api.Kind, r *orchv1.ListRequest) (proto.Message, error) {
	sel, err := parseSelector(k, r.GetNamespace(), r.GetLabelSelector(), r.GetFieldSelector())
	if err != nil {
		return nil, err
	}
	if err := a.consistent(ctx, r.GetStale()); err != nil {
		return nil, err
	}
	v := a.store.View()
	return api.NewList(k, selectObjects(v, k, sel), strconv.FormatUint(v.Index(), 10)), nil
}

// Watch streams the changes matching the request to send until ctx ends or send fails.
func (a *API) Watch(ctx context.Context, k *api.Kind, r *orchv1.WatchRequest, send func(proto.Message) error) error {
	sel, err := parseSelector(k, r.GetNamespace(), r.GetLabelSelector(), r.GetFieldSelector())
	if err != nil {
		return err
	}
	// The initial state and the feed meet at one index: the feed holds exactly the
	// changes after it, so nothing is repeated and nothing is missed.
	var sub *Sub
	var initial []api.Object
	if rv := r.GetResourceVersion(); rv != "" && rv != "0" {
		from, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return invalid(fmt.Sprintf("resourceVersion: Invalid value: %q: must be a number", rv))
		}
		if sub, err = a.subscribeFrom(ctx, k, from); err != nil {
			return err
		}
	} else {
		if err := a.consistent(ctx, false); err != nil {
			return err
		}
		var v View
		if sub, v, err = a.hub.SubscribeView(k, a.store); err != nil {
			return subscribeError(err)
		}
		initial = selectObjects(v, k, sel)
	}
	from := sub.From()
	defer a.hub.Unsubscribe(sub)
	for _, o := range initial {
		if err := send(api.NewEvent(k, api.Added, o)); err != nil {
			return err
		}
	}
	// Every watch opens with a bookmark at the resourceVersion it starts from: it tells
	// the client where it stands, and it sends the response headers at once, so a
	// streaming client's call returns even when nothing changes.
	if err := send(a.bookmark(k, from)); err != nil {
		return err
	}
	var tick <-chan time.Time
	if r.GetAllowWatchBookmarks() {
		t := time.NewTicker(a.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	last := from
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			return connect.NewError(connect.CodeUnavailable, sub.Err())
		case e := <-sub.C:
			last = e.Index
			typ, o, ok := sel.event(e)
			if !ok {
				continue
			}
			if err := send(api.NewEvent(k, typ, o)); err != nil {
				return err
			}
		case <-tick:
			if idx := a.hub.LastIndex(); idx > last && len(sub.C) == 0 {
				last = idx
			}
			if err := send(a.bookmark(k, last)); err != nil {
				return err
			}
		}
	}
}

// bookmark is a BOOKMARK event: an object of the kind carrying only a resourceVersion.
func (a *API) bookmark(k *api.Kind, rv uint64) proto.Message {
	b := k.New()
	api.SetTypeMeta(k, b)
	api.Meta(b).ResourceVersion = strconv.FormatUint(rv, 10)
	return api.NewEvent(k, api.Bookmark, b)
}

func invalid(msg string) error {
	return connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
}

// fieldSupported lists the fields a field selector may name, per kind, as Kubernetes does.
func fieldSupported(k *api.Kind, field string) bool {
	switch field {
	case "metadata.name", "metadata.namespace":
		return true
	}
	switch k {
	case api.PodKind:
		switch field {
		case "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP":
			return true
		}
	case api.EventKind:
		return strings.HasPrefix(field, "involvedObject.") || field == "reason" || field == "type"
	case api.SecretKind:
		return field == "type"
	case api.NamespaceKind:
		return field == "status.phase"
	}
	return false
}

func objectFields(o api.Object) fields.Set {
	m := o.GetMetadata()
	s := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	switch x := o.(type) {
	case *orchv1.Pod:
		s["spec.nodeName"] = x.GetSpec().GetNodeName()
		s["spec.restartPolicy"] = x.GetSpec().GetRestartPolicy()
		s["spec.schedulerName"] = x.GetSpec().GetSchedulerName()
		s["spec.serviceAccountName"] = x.GetSpec().GetServiceAccountName()
		s["status.phase"] = x.GetStatus().GetPhase()
		s["status.podIP"] = x.GetStatus().GetPodIp()
	case *orchv1.Event:
		io := x.GetInvolvedObject()
		s["involvedObject.kind"] = io.GetKind()
		s["involvedObject.name"] = io.GetName()
		s["involvedObject.namespace"] = io.GetNamespace()
		s["involvedObject.uid"] = io.GetUid()
		s["reason"] = x.GetReason()
		s["type"] = x.GetType()
	case *orchv1.Secret:
		s["type"] = x.GetType()
	case *orchv1.Namespace:
		s["status.phase"] = x.GetStatus().GetPhase()
	}
	return s
}

// sortedKeys is used where output order must not depend on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kindService serves one kind's Connect service with the generic API. Its methods match
// the generated handler interface of every kind service.
type kindService[T, L, E any] struct {
	api  *API
	kind *api.Kind
}

func obj[T any](m *T) api.Object { return any(m).(api.Object) }

func (s *kindService[T, L, E]) Create(ctx context.Context, r *connect.Request[T]) (*connect.Response[T], error) {
	o, err := s.api.Create(ctx, s.kind, obj(r.Msg))
	return respond[T](o, err)
}

func (s *kindService[T, L, E]) Get(ctx context.Context, r *connect.Request[orchv1.GetRequest]) (*connect.Response[T], error) {
	o, err := s.api.Get(ctx, s.kind, r.Msg)
	return respond[T](o, err)
}

func (s *kindService[T, L, E]) List(ctx context.Context, r *connect.Request[orchv1.ListRequest]) (*connect.Response[L], error) {
	l, err := s.api.List(ctx, s.kind, r.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(l.(any).(*L)), nil
}

func (s *kindService[T, L, E]) Update(ctx context.Context, r *connect.Request[T]) (*connect.Response[T], error) {
	o, err := s.api.Update(ctx, s.kind, obj(r.Msg))
	return respond[T](o, err)
}

func (s *kindService[T, L, E]) UpdateStatus(ctx context.Context, r *connect.Request[T]) (*connect.Response[T], error) {
	o, err := s.api.UpdateStatus(ctx, s.kind, obj(r.Msg))
	return respond[T](o, err)
}

func (s *kindService[T, L, E]) Delete(ctx context.Context, r *connect.Request[orchv1.DeleteRequest]) (*connect.Response[T], error) {
	o, err := s.api.Delete(ctx, s.kind, r.Msg)
	return respond[T](o, err)
}

func (s *kindService[T, L, E]) Watch(ctx context.Context, r *connect.Request[orchv1.WatchRequest], st *connect.ServerStream[E]) error {
	return s.api.Watch(ctx, s.kind, r.Msg, func(e proto.Message) error { return st.Send(e.(any).(*E)) })
}

func respond[T any](o api.Object, err error) (*connect.Response[T], error) {
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(any(o).(*T)), nil
}

// mountKinds registers every kind service on mux.
func (a *API) mountKinds(mux *http.ServeMux, opts ...connect.HandlerOption) {
	for p, h := range kindHandlers(a, append([]connect.HandlerOption{strictJSON()}, opts...)...) {
		mux.Handle(p, h)
	}
}
