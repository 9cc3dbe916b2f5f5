package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"

	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// apiClient talks to whichever master answers, moving to the next one when a master is
// unreachable or has no leader to serve it.
type apiClient struct {
	urls []string
	cur  atomic.Int32
	hc   connect.HTTPClient

	mu      sync.Mutex
	clients map[string]*clients
}

type clients struct {
	pods       orchv1connect.PodServiceClient
	configMaps orchv1connect.ConfigMapServiceClient
	secrets    orchv1connect.SecretServiceClient
	events     orchv1connect.EventServiceClient
	agent      orchv1connect.NodeAgentServiceClient
}

func newAPIClient(urls []string) *apiClient {
	return &apiClient{urls: urls, hc: transport.Client(), clients: map[string]*clients{}}
}

func (c *apiClient) for_(url string) *clients {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[url]
	if !ok {
		cl = &clients{
			pods:       orchv1connect.NewPodServiceClient(c.hc, url),
			configMaps: orchv1connect.NewConfigMapServiceClient(c.hc, url),
			secrets:    orchv1connect.NewSecretServiceClient(c.hc, url),
			events:     orchv1connect.NewEventServiceClient(c.hc, url),
			agent:      orchv1connect.NewNodeAgentServiceClient(c.hc, url),
		}
		c.clients[url] = cl
	}
	return cl
}

// do runs fn against the current master, failing over to the others in turn.
func (c *apiClient) do(ctx context.Context, fn func(*clients) error) error {
	var err error
	for range c.urls {
		i := int(c.cur.Load()) % len(c.urls)
		err = fn(c.for_(c.urls[i]))
		if err == nil || !failover(err) || ctx.Err() != nil {
			return err
		}
		c.cur.CompareAndSwap(int32(i), int32((i+1)%len(c.urls)))
	}
	return err
}

func failover(err error) bool {
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeInternal:
			return true
		}
	}
	return false
}
