package server

// Histories of concurrent reads and writes of one object, sent to every master while the
// leader is stopped, are linearizable (checked with porcupine).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/anishathalye/porcupine"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

type regInput struct {
	write bool
	value string
}

// registerModel: a single value; writes always succeed, reads return the latest write.
var registerModel = porcupine.Model{
	Init: func() any { return "0" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.write {
			return "put " + in.value
		}
		return fmt.Sprintf("get -> %v", output)
	},
}

func TestLinearizableAcrossLeaderFailure(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	first := orchv1connect.NewConfigMapServiceClient(transport.Client(), c.masters[0].URL())
	if _, err := first.Create(ctx, connect.NewRequest(cm("reg", map[string]string{"v": "0"}))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var mu sync.Mutex
	var ops []porcupine.Operation
	record := func(op porcupine.Operation) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}
	now := func() int64 { return int64(time.Since(start)) }

	const clients = 4
	stopAt, endAt := 700*time.Millisecond, 2500*time.Millisecond
	urls := make([]string, len(c.masters))
	for i, m := range c.masters {
		urls[i] = m.URL()
	}
	var wg sync.WaitGroup
	for id := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(id), 7))
			for n := 0; time.Since(start) < endAt; n++ {
				cl := orchv1connect.NewConfigMapServiceClient(transport.Client(), urls[rng.IntN(len(urls))])
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				call := now()
				if rng.IntN(2) == 0 {
					v := fmt.Sprintf("%d-%d", id, n)
					_, err := cl.Update(rctx, connect.NewRequest(cm("reg", map[string]string{"v": v})))
					ret := now()
					if err != nil {
						ret = math.MaxInt64 // may or may not have happened
					}
					record(porcupine.Operation{ClientId: id, Input: regInput{write: true, value: v}, Call: call, Return: ret})
				} else {
					resp, err := cl.Get(rctx, connect.NewRequest(&orchv1.GetRequest{Name: "reg"}))
					ret := now()
					if err == nil {
						record(porcupine.Operation{ClientId: id, Input: regInput{}, Output: resp.Msg.GetData()["v"], Call: call, Return: ret})
					}
				}
				cancel()
			}
		}()
	}
	time.Sleep(stopAt)
	l := c.leader()
	c.stop(l)
	wg.Wait()

	var reads, writes int
	for _, op := range ops {
		if op.Input.(regInput).write {
			writes++
		} else {
			reads++
		}
	}
	t.Logf("%d writes, %d reads, leader m%d stopped at %v", writes, reads, l, stopAt)
	if reads < 10 || writes < 10 {
		t.Fatalf("history too small to mean anything: %d reads, %d writes", reads, writes)
	}
	res := porcupine.CheckOperationsTimeout(registerModel, ops, 30*time.Second)
	if res == porcupine.Illegal {
		t.Fatalf("history of %d operations is not linearizable", len(ops))
	}
}
