package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
)

// tooLargeWait bounds how long a watch from a resourceVersion this master has not
// applied yet waits for it (a follower lagging the leader a little), as Kubernetes'
// watch cache waits 3 s before "Too large resource version".
var tooLargeWait = 3 * time.Second

// selectObjects returns the objects of the view that match sel, sorted by key.
func selectObjects(v View, k *api.Kind, sel *selector) []api.Object {
	var all []api.Object
	if node, ok := sel.fields.RequiresExactMatch("spec.nodeName"); ok && k == api.PodKind {
		all = v.PodsOnNode(node)
	} else {
		all = v.List(k, sel.namespace)
	}
	items := make([]api.Object, 0, len(all))
	for _, o := range all {
		if sel.matches(o) {
			items = append(items, o)
		}
	}
	return items
}

// event translates a change into what a watch with this selector sees, as Kubernetes'
// watch cache does: a MODIFIED object that starts matching is ADDED, one that stops
// matching is DELETED (with the content it last matched with, at the change's
// resourceVersion), and one that matches neither before nor after is not sent.
func (s *selector) event(e Event) (string, api.Object, bool) {
	cur := s.matches(e.Obj)
	if e.Type != api.Modified || e.Prev == nil {
		return e.Type, e.Obj, cur
	}
	if s.labels.Empty() && s.fields.Empty() {
		return e.Type, e.Obj, cur // only the namespace, which never changes
	}
	switch prev := s.matches(e.Prev); {
	case cur && prev:
		return api.Modified, e.Obj, true
	case cur:
		return api.Added, e.Obj, true
	case prev:
		gone := proto.Clone(e.Prev).(api.Object)
		api.Meta(gone).ResourceVersion = strconv.FormatUint(e.Index, 10)
		return api.Deleted, gone, true
	}
	return "", nil, false
}

// subscribeFrom feeds the changes after resourceVersion from. A resourceVersion this
// master has not applied yet is waited for, up to tooLargeWait.
func (a *API) subscribeFrom(ctx context.Context, k *api.Kind, from uint64) (*Sub, error) {
	wctx, cancel := context.WithTimeout(ctx, tooLargeWait)
	err := a.hub.WaitIndex(wctx, from)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, connect.NewError(connect.CodeCanceled, ctx.Err())
		}
		return nil, connect.NewError(connect.CodeOutOfRange, fmt.Errorf(
			"%w: %d, current: %d: this master has not reached it; list again", ErrTooLarge, from, a.hub.LastIndex()))
	}
	sub, err := a.hub.Subscribe(k, from)
	if err != nil {
		return nil, subscribeError(err)
	}
	return sub, nil
}

func subscribeError(err error) error {
	if errors.Is(err, ErrTooOld) {
		return connect.NewError(connect.CodeOutOfRange, err)
	}
	return connect.NewError(connect.CodeUnavailable, err)
}
