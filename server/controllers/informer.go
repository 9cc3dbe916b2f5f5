package controllers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orchd/orch/api"
)

// Handler is told of every change of a kind. Handlers only queue keys: they run on the
// informer's goroutine and must not block.
type Handler func(e Event)

// Informers feed the controllers' handlers from the local store, one informer per kind.
// The store is the cache: handlers read nothing from events but keys, and controllers
// read the current state from Source.View.
type Informers struct {
	src   Source
	log   *slog.Logger
	kinds map[*api.Kind]*informer
	order []*informer
}

func newInformers(src Source, log *slog.Logger) *Informers {
	return &Informers{src: src, log: log, kinds: map[*api.Kind]*informer{}}
}

// On registers h for the changes of kind k.
func (s *Informers) On(k *api.Kind, h Handler) {
	i, ok := s.kinds[k]
	if !ok {
		i = &informer{kind: k, src: s.src, log: s.log.With("kind", k.Name), synced: make(chan struct{})}
		s.kinds[k] = i
		s.order = append(s.order, i)
	}
	i.handlers = append(i.handlers, h)
}

func (s *Informers) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, i := range s.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i.run(ctx)
		}()
	}
}

// waitSynced waits until every informer has delivered its first listing.
func (s *Informers) waitSynced(ctx context.Context) bool {
	for _, i := range s.order {
		select {
		case <-i.synced:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

type informer struct {
	kind     *api.Kind
	src      Source
	log      *slog.Logger
	handlers []Handler
	synced   chan struct{}
}

// run lists and watches: every object of the kind is delivered as ADDED, then each
// change. A lost feed (it fell behind, its history was dropped, the store was restored)
// lists again, so that nothing missed meanwhile stays unreconciled.
func (i *informer) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		v, feed, err := i.src.Watch(i.kind)
		if err != nil {
			i.log.Warn("watch", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for _, o := range v.List(i.kind, "") {
			i.dispatch(Event{Type: api.Added, Obj: o})
		}
		if first {
			close(i.synced)
			first = false
		}
		for {
			e, err := feed.Next(ctx)
			if err != nil {
				feed.Close()
				if ctx.Err() == nil {
					i.log.Info("watch feed lost: listing again", "err", err)
				}
				break
			}
			i.dispatch(e)
		}
	}
}

func (i *informer) dispatch(e Event) {
	for _, h := range i.handlers {
		h(e)
	}
}
