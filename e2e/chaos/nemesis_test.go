package chaos

// The nemeses: each starts one kind of fault and stops it (heals, restarts, resumes).
// A history runs one of them while the workload goes on.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orchd/orch/e2e/harness"
)

type nemesis interface {
	Name() string
	Start(ctx context.Context, e *env) error
	Stop(ctx context.Context, e *env) error
}

// nemeses are all the nemeses, in the order the short run covers them. withWipe adds
// the wiped data dir; withWipeQuorum the wiped master in a quorum with a stale one
// (lost writes on main: a wiped master still votes as its old self).
func nemeses(withWipe, withWipeQuorum bool) []func() nemesis {
	all := []func() nemesis{
		func() nemesis { return &killOne{leader: true} },
		func() nemesis { return &killOne{} },
		func() nemesis { return &killAll{} },
		func() nemesis { return &pauseLeader{} },
		func() nemesis { return &partition{leader: true} },
		func() nemesis { return &partition{} },
		func() nemesis { return &flap{} },
		func() nemesis { return &membership{} },
	}
	if withWipe {
		all = append(all, func() nemesis { return &wipeFollower{} })
	}
	if withWipeQuorum {
		all = append(all, func() nemesis { return &wipeQuorum{} })
	}
	return all
}

// killOne is kill -9 of the leader or of a follower; Stop restarts it from its data dir.
type killOne struct {
	leader bool
	victim *harness.Master
}

func (n *killOne) Name() string {
	if n.leader {
		return "kill-leader"
	}
	return "kill-follower"
}

func (n *killOne) Start(ctx context.Context, e *env) error {
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	n.victim = l
	if !n.leader {
		n.victim = e.pick(e.followers(l))
	}
	e.logf("kill -9 %s (leader %s)", n.victim.Name, l.Name)
	e.c.Kill(n.victim)
	return nil
}

func (n *killOne) Stop(ctx context.Context, e *env) error {
	e.logf("restart %s", n.victim.Name)
	return e.c.Start(n.victim)
}

// killAll is kill -9 of every master; Stop restarts them all from their data dirs.
type killAll struct{}

func (killAll) Name() string { return "kill-all" }

func (killAll) Start(ctx context.Context, e *env) error {
	e.logf("kill -9 every master")
	for _, m := range e.memberList() {
		e.c.Kill(m)
	}
	return nil
}

func (killAll) Stop(ctx context.Context, e *env) error {
	e.logf("restart every master")
	var errs []error
	for _, m := range e.memberList() {
		errs = append(errs, e.c.Start(m))
	}
	return errors.Join(errs...)
}

// pauseLeader is SIGSTOP of the leader for the whole window (seconds, well past the
// election timeout); Stop sends SIGCONT and the old leader finds itself deposed.
type pauseLeader struct{ victim *harness.Master }

func (*pauseLeader) Name() string { return "pause-leader" }

func (n *pauseLeader) Start(ctx context.Context, e *env) error {
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	n.victim = l
	e.logf("SIGSTOP %s (leader)", l.Name)
	e.mu.Lock()
	e.paused[l] = true
	e.mu.Unlock()
	return e.c.Pause(l)
}

func (n *pauseLeader) Stop(ctx context.Context, e *env) error {
	e.logf("SIGCONT %s", n.victim.Name)
	e.mu.Lock()
	delete(e.paused, n.victim)
	e.mu.Unlock()
	return e.c.Resume(n.victim)
}

// partition cuts the leader (or a master picked at random: a majority/minority split
// that may or may not hold the leader) off from the other masters; clients still reach
// every master, the minority's too. Stop heals.
type partition struct{ leader bool }

func (n *partition) Name() string {
	if n.leader {
		return "partition-leader"
	}
	return "partition-random"
}

func (n *partition) Start(ctx context.Context, e *env) error {
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	minority := l
	if !n.leader {
		minority = e.pick(e.memberList())
	}
	e.logf("partition: %s | the others (leader %s)", minority.Name, l.Name)
	return e.net.Partition(e.net.Isolate(minority.Host))
}

func (n *partition) Stop(ctx context.Context, e *env) error {
	e.logf("heal")
	return e.net.Heal()
}

// flap partitions and heals again and again, a fraction of a second each: one master
// isolated, the leader isolated, or a bridge (two masters cut from each other, both
// still reaching the third).
type flap struct {
	cancel context.CancelFunc
	done   chan error
}

func (*flap) Name() string { return "flap" }

func (n *flap) Start(ctx context.Context, e *env) error {
	ctx, n.cancel = context.WithCancel(ctx)
	n.done = make(chan error, 1)
	go func() {
		var err error
		defer func() { n.done <- err }()
		for ctx.Err() == nil {
			ms := e.memberList()
			var cuts [][2]*harness.Host
			var what string
			switch e.intn(3) {
			case 0:
				m := e.pick(ms)
				cuts, what = e.net.Isolate(m.Host), m.Name+" isolated"
			case 1:
				lctx, cancel := context.WithTimeout(ctx, time.Second)
				l, lerr := e.c.Leader(lctx)
				cancel()
				if lerr != nil {
					continue
				}
				cuts, what = e.net.Isolate(l.Host), "leader "+l.Name+" isolated"
			case 2:
				a := e.intn(len(ms))
				b := (a + 1 + e.intn(len(ms)-1)) % len(ms)
				cuts, what = [][2]*harness.Host{{ms[a].Host, ms[b].Host}}, fmt.Sprintf("bridge: %s and %s cut", ms[a].Name, ms[b].Name)
			}
			e.logf("flap: %s", what)
			if err = e.net.Partition(cuts); err != nil {
				return
			}
			sleep(ctx, time.Duration(300+e.intn(600))*time.Millisecond)
			if err = e.net.Heal(); err != nil {
				return
			}
			sleep(ctx, time.Duration(200+e.intn(400))*time.Millisecond)
		}
	}()
	return nil
}

func (n *flap) Stop(ctx context.Context, e *env) error {
	n.cancel()
	err := <-n.done
	e.logf("flap: heal")
	return errors.Join(err, e.net.Heal())
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// membership adds a fourth master and waits until it votes, then stops one of the
// first three (the leader, maybe) and removes it with `orchctl cluster remove-master`.
type membership struct{}

func (*membership) Name() string { return "membership" }

func (n *membership) Start(ctx context.Context, e *env) error {
	old := e.memberList()
	h, err := e.net.AddHost(fmt.Sprintf("m%d", len(e.masters())))
	if err != nil {
		return err
	}
	var join []string
	for _, m := range old {
		join = append(join, m.Gossip)
	}
	e.mu.Lock()
	added := e.c.NewMasterInHost(h, h.Name, "--join", strings.Join(join, ","))
	e.members = append(e.members, added)
	e.mu.Unlock()
	e.logf("add master %s", added.Name)
	if err := e.c.Start(added); err != nil {
		return err
	}
	err = until(ctx, 30*time.Second, func(ctx context.Context) error {
		l, err := e.c.Leader(ctx)
		if err != nil {
			return err
		}
		rc, err := e.raftConfiguration(ctx, l)
		if err != nil {
			return err
		}
		for _, s := range rc.GetServers() {
			if s.GetAddress() == added.RaftAddr && s.GetSuffrage() == "Voter" {
				return nil
			}
		}
		return fmt.Errorf("%s is not a voter: %v", added.Name, rc.GetServers())
	})
	if err != nil {
		return err
	}
	victim := e.pick(old)
	e.logf("%s votes; stop %s and remove it", added.Name, victim.Name)
	e.c.Stop(victim)
	e.mu.Lock()
	for i, m := range e.members {
		if m == victim {
			e.members = append(e.members[:i], e.members[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	var last string
	err = until(ctx, 30*time.Second, func(ctx context.Context) error {
		via := e.pick(e.memberList())
		out, errOut, err := e.c.Orchctl(via, "", "cluster", "remove-master", victim.Name)
		if err != nil {
			last = strings.TrimSpace(errOut)
			return fmt.Errorf("remove-master %s via %s: %v: %s", victim.Name, via.Name, err, last)
		}
		e.logf("%s", strings.TrimSpace(out))
		return nil
	})
	return err
}

func (n *membership) Stop(ctx context.Context, e *env) error { return nil }

// wipeFollower kills a follower, deletes its data dir and starts it again: a new server
// under the old name and addresses, which must rejoin without voting as its old self.
type wipeFollower struct{ victim *harness.Master }

func (*wipeFollower) Name() string { return "wipe-follower" }

func (n *wipeFollower) Start(ctx context.Context, e *env) error {
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	n.victim = e.pick(e.followers(l))
	e.logf("kill -9 %s, wipe its data dir, start it again", n.victim.Name)
	e.c.Kill(n.victim)
	if err := e.c.Wipe(n.victim); err != nil {
		return err
	}
	return e.c.Start(n.victim)
}

func (n *wipeFollower) Stop(ctx context.Context, e *env) error { return nil }

// wipeQuorum makes a wiped master part of a quorum with a stale one: one follower (C) is
// cut off while writes commit on the leader (A) and the other follower (B); then A is
// killed, B is killed, wiped and started again, and C rejoins. B and C are a majority of
// the configuration. If B votes as its old self, with an empty log, C is elected without
// the writes A and B committed, and acknowledged writes are lost. Stop restarts A.
type wipeQuorum struct{ leader *harness.Master }

func (*wipeQuorum) Name() string { return "wipe-quorum" }

func (n *wipeQuorum) Start(ctx context.Context, e *env) error {
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	fs := e.followers(l)
	i := e.intn(len(fs))
	b, c := fs[i], fs[1-i]
	n.leader = l
	e.logf("partition: %s | the others (leader %s)", c.Name, l.Name)
	if err := e.net.Partition(e.net.Isolate(c.Host)); err != nil {
		return err
	}
	sleep(ctx, 1500*time.Millisecond)
	e.logf("kill -9 %s (leader) and %s, wipe %s's data dir, start it again, heal %s", l.Name, b.Name, b.Name, c.Name)
	e.c.Kill(l)
	e.c.Kill(b)
	if err := e.c.Wipe(b); err != nil {
		return err
	}
	if err := e.c.Start(b); err != nil {
		return err
	}
	return e.net.Heal()
}

func (n *wipeQuorum) Stop(ctx context.Context, e *env) error {
	e.logf("restart %s", n.leader.Name)
	return e.c.Start(n.leader)
}
