package server

import (
	"context"

	"github.com/orchd/orch/api"
	eventrecord "github.com/orchd/orch/client/record"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/server/controllers"
)

// runControllers runs the workload controllers until ctx, the leadership context, ends.
// Their writes go through the API with ctx, so they carry the leader's term.
func (m *Master) runControllers(ctx context.Context) {
	rec := eventrecord.New(eventSink{m.api}, "controller-manager", m.cfg.Name, m.log)
	go rec.Run(ctx)
	controllers.NewManager(controllers.Deps{
		Source:     storeSource{store: m.store, hub: m.hub},
		Writer:     m.api,
		Log:        m.log,
		Now:        m.api.now,
		Registerer: m.metrics.reg,
		Recorder:   rec,
		EventTTL:   m.cfg.EventTTL,
	}).Run(ctx)
}

// eventSink writes a master's own Events through its API.
type eventSink struct{ api *API }

func (s eventSink) Create(ctx context.Context, e *orchv1.Event) (*orchv1.Event, error) {
	o, err := s.api.Create(ctx, api.EventKind, e)
	if err != nil {
		return nil, err
	}
	return o.(*orchv1.Event), nil
}

func (s eventSink) Update(ctx context.Context, e *orchv1.Event) (*orchv1.Event, error) {
	o, err := s.api.Update(ctx, api.EventKind, e)
	if err != nil {
		return nil, err
	}
	return o.(*orchv1.Event), nil
}

// storeSource serves the controllers' informers from the local store and watch hub.
type storeSource struct {
	store *Store
	hub   *Hub
}

func (s storeSource) View() controllers.View { return s.store.View() }

func (s storeSource) Watch(k *api.Kind) (controllers.View, controllers.Feed, error) {
	sub, v, err := s.hub.SubscribeView(k, s.store)
	if err != nil {
		return nil, nil, err
	}
	return v, hubFeed{hub: s.hub, sub: sub}, nil
}

type hubFeed struct {
	hub *Hub
	sub *Sub
}

func (f hubFeed) Next(ctx context.Context) (controllers.Event, error) {
	select {
	case <-ctx.Done():
		return controllers.Event{}, ctx.Err()
	case <-f.sub.Done():
		return controllers.Event{}, f.sub.Err()
	case e := <-f.sub.C:
		return controllers.Event{Type: e.Type, Obj: e.Obj, Prev: e.Prev}, nil
	}
}

func (f hubFeed) Close() { f.hub.Unsubscribe(f.sub) }
