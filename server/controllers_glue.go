package server

import (
	"context"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/server/controllers"
)

// runControllers runs the workload controllers until ctx, the leadership context, ends.
// Their writes go through the API with ctx, so they carry the leader's term.
func (m *Master) runControllers(ctx context.Context) {
	controllers.NewManager(controllers.Deps{
		Source:     storeSource{store: m.store, hub: m.hub},
		Writer:     m.api,
		Log:        m.log,
		Now:        m.api.now,
		Registerer: m.metrics.reg,
	}).Run(ctx)
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
