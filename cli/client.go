package cli

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// KindClient is the CRUD and watch surface of one kind's typed service, with objects as
// api.Object so that commands can treat every kind alike.
type KindClient interface {
	Kind() *api.Kind
	Create(ctx context.Context, o api.Object) (api.Object, error)
	Get(ctx context.Context, namespace, name string) (api.Object, error)
	// List returns the items and the resourceVersion the list is consistent at.
	List(ctx context.Context, req *orchv1.ListRequest) ([]api.Object, string, error)
	Update(ctx context.Context, o api.Object) (api.Object, error)
	Delete(ctx context.Context, req *orchv1.DeleteRequest) (api.Object, error)
	Watch(ctx context.Context, req *orchv1.WatchRequest) (WatchStream, error)
}

// WatchStream is an open watch. Next blocks until the next event; it returns false when
// the stream ends, after which Err tells why (nil for a clean end).
type WatchStream interface {
	Next() (typ string, o api.Object, ok bool)
	Err() error
	Close() error
}

// typedClient lists the methods of a generated <Kind>ServiceClient that the CLI uses;
// every generated client satisfies it.
type typedClient[T, L, E any] interface {
	Create(context.Context, *connect.Request[T]) (*connect.Response[T], error)
	Get(context.Context, *connect.Request[orchv1.GetRequest]) (*connect.Response[T], error)
	List(context.Context, *connect.Request[orchv1.ListRequest]) (*connect.Response[L], error)
	Update(context.Context, *connect.Request[T]) (*connect.Response[T], error)
	Delete(context.Context, *connect.Request[orchv1.DeleteRequest]) (*connect.Response[T], error)
	Watch(context.Context, *connect.Request[orchv1.WatchRequest]) (*connect.ServerStreamForClient[E], error)
}

// kindClient adapts a typed client to KindClient. T, L and E are the kind's message, list
// and watch event types (orchv1.Pod, orchv1.PodList, orchv1.PodWatchEvent).
type kindClient[T, L, E any] struct {
	kind *api.Kind
	c    typedClient[T, L, E]
}

func (k *kindClient[T, L, E]) Kind() *api.Kind { return k.kind }

func (k *kindClient[T, L, E]) typed(o api.Object) (*T, error) {
	t, ok := any(o).(*T)
	if !ok {
		return nil, fmt.Errorf("%T is not a %s", o, k.kind.Name)
	}
	return t, nil
}

func (k *kindClient[T, L, E]) Create(ctx context.Context, o api.Object) (api.Object, error) {
	t, err := k.typed(o)
	if err != nil {
		return nil, err
	}
	resp, err := k.c.Create(ctx, connect.NewRequest(t))
	if err != nil {
		return nil, err
	}
	return any(resp.Msg).(api.Object), nil
}

func (k *kindClient[T, L, E]) Get(ctx context.Context, namespace, name string) (api.Object, error) {
	resp, err := k.c.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: namespace, Name: name}))
	if err != nil {
		return nil, err
	}
	return any(resp.Msg).(api.Object), nil
}

func (k *kindClient[T, L, E]) List(ctx context.Context, req *orchv1.ListRequest) ([]api.Object, string, error) {
	resp, err := k.c.List(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, "", err
	}
	l := any(resp.Msg).(proto.Message)
	return api.ListItems(l), api.ListResourceVersion(l), nil
}

func (k *kindClient[T, L, E]) Update(ctx context.Context, o api.Object) (api.Object, error) {
	t, err := k.typed(o)
	if err != nil {
		return nil, err
	}
	resp, err := k.c.Update(ctx, connect.NewRequest(t))
	if err != nil {
		return nil, err
	}
	return any(resp.Msg).(api.Object), nil
}

func (k *kindClient[T, L, E]) Delete(ctx context.Context, req *orchv1.DeleteRequest) (api.Object, error) {
	resp, err := k.c.Delete(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return any(resp.Msg).(api.Object), nil
}

func (k *kindClient[T, L, E]) Watch(ctx context.Context, req *orchv1.WatchRequest) (WatchStream, error) {
	s, err := k.c.Watch(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return &watchStream[E]{s: s}, nil
}

type watchStream[E any] struct {
	s *connect.ServerStreamForClient[E]
}

func (w *watchStream[E]) Next() (string, api.Object, bool) {
	if !w.s.Receive() {
		return "", nil, false
	}
	typ, o := api.EventParts(any(w.s.Msg()).(proto.Message))
	return typ, o, true
}

func (w *watchStream[E]) Err() error   { return w.s.Err() }
func (w *watchStream[E]) Close() error { return w.s.Close() }

// timeoutClient bounds every call but Watch by the --request-timeout.
type timeoutClient struct {
	KindClient
	d time.Duration
}

func (t timeoutClient) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.d)
}

func (t timeoutClient) Create(ctx context.Context, o api.Object) (api.Object, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.KindClient.Create(ctx, o)
}

func (t timeoutClient) Get(ctx context.Context, namespace, name string) (api.Object, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.KindClient.Get(ctx, namespace, name)
}

func (t timeoutClient) List(ctx context.Context, req *orchv1.ListRequest) ([]api.Object, string, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.KindClient.List(ctx, req)
}

func (t timeoutClient) Update(ctx context.Context, o api.Object) (api.Object, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.KindClient.Update(ctx, o)
}

func (t timeoutClient) Delete(ctx context.Context, req *orchv1.DeleteRequest) (api.Object, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.KindClient.Delete(ctx, req)
}
