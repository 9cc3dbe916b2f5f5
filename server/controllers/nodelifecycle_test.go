package controllers

import (
	"github.com/orchd/orch/api"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func readyNode(status string, taints ...*orchv1.Taint) *orchv1.Node {
	n := &orchv1.Node{Metadata: &orchv1.ObjectMeta{Name: "n1"}, Spec: &orchv1.NodeSpec{Taints: taints}}
	if status != "" {
		n.Status = &orchv1.NodeStatus{Conditions: []*orchv1.NodeCondition{{Type: "Ready", Status: status}}}
	}
	return n
}

func TestPlanNodeTaints(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := timestamppb.New(now.Add(-time.Minute))
	user := &orchv1.Taint{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}
	notReady := &orchv1.Taint{Key: api.TaintNodeNotReady, Effect: "NoExecute", TimeAdded: earlier}
	unreachable := &orchv1.Taint{Key: api.TaintNodeUnreachable, Effect: "NoExecute", TimeAdded: earlier}
	added := func(key string) *orchv1.Taint {
		return &orchv1.Taint{Key: key, Effect: "NoExecute", TimeAdded: timestamppb.New(now)}
	}
	for _, c := range []struct {
		name    string
		node    *orchv1.Node
		want    []*orchv1.Taint
		changed bool
	}{
		{"ready, untainted", readyNode("True", user), []*orchv1.Taint{user}, false},
		{"registering: no condition yet", readyNode(""), nil, false},
		{"ready again: lifecycle taint removed, the user's kept", readyNode("True", user, unreachable), []*orchv1.Taint{user}, true},
		{"not ready", readyNode("False", user), []*orchv1.Taint{user, added(api.TaintNodeNotReady)}, true},
		{"unreachable", readyNode("Unknown"), []*orchv1.Taint{added(api.TaintNodeUnreachable)}, true},
		{"still unreachable: timeAdded kept", readyNode("Unknown", unreachable), []*orchv1.Taint{unreachable}, false},
		{"not ready becomes unreachable", readyNode("Unknown", notReady), []*orchv1.Taint{added(api.TaintNodeUnreachable)}, true},
		{"a duplicate lifecycle taint goes", readyNode("Unknown", unreachable, unreachable), []*orchv1.Taint{unreachable}, true},
		{"a NoSchedule taint of the same key is the user's", readyNode("True", &orchv1.Taint{Key: api.TaintNodeNotReady, Effect: "NoSchedule"}),
			[]*orchv1.Taint{{Key: api.TaintNodeNotReady, Effect: "NoSchedule"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, changed := planNodeTaints(c.node, now)
			if changed != c.changed {
				t.Errorf("changed = %v, want %v", changed, c.changed)
			}
			if len(got) != len(c.want) {
				t.Fatalf("taints = %v, want %v", got, c.want)
			}
			for i := range got {
				if !proto.Equal(got[i], c.want[i]) {
					t.Errorf("taint %d = %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPlanEvictions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	taint := func(key string, ago time.Duration) *orchv1.Taint {
		return &orchv1.Taint{Key: key, Effect: "NoExecute", TimeAdded: timestamppb.New(now.Add(-ago))}
	}
	secs := func(s int32) *int32 { return &s }
	tol := func(key string, s *int32) *orchv1.Toleration {
		return &orchv1.Toleration{Key: key, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: s}
	}
	pod := func(name string, tols ...*orchv1.Toleration) *orchv1.Pod {
		return &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: "default", Name: name}, Spec: &orchv1.PodSpec{NodeName: "n1", Tolerations: tols}}
	}
	terminating := pod("terminating")
	terminating.Metadata.DeletionTimestamp = timestamppb.New(now)
	finished := pod("finished")
	finished.Status = &orchv1.PodStatus{Phase: "Succeeded"}
	for _, c := range []struct {
		name   string
		taints []*orchv1.Taint
		pods   []*orchv1.Pod
		evict  []string
		wait   time.Duration
	}{
		{"no NoExecute taint", []*orchv1.Taint{{Key: "k", Effect: "NoSchedule"}}, []*orchv1.Pod{pod("a")}, nil, 0},
		{"untolerated: now", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0)}, []*orchv1.Pod{pod("a")}, []string{"a"}, 0},
		{"tolerated for 5 s, tainted 2 s ago: 3 s to go", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 2*time.Second)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, secs(5)))}, nil, 3 * time.Second},
		{"tolerated for 5 s, tainted 5 s ago: now", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 5*time.Second)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, secs(5)))}, []string{"a"}, 0},
		{"tolerated forever (a DaemonSet's pod)", []*orchv1.Taint{taint(api.TaintNodeUnreachable, time.Hour)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, nil))}, nil, 0},
		{"negative seconds count as 0", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, secs(-3)))}, []string{"a"}, 0},
		{"an empty key with Exists tolerates every taint", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0), taint("other", 0)},
			[]*orchv1.Pod{pod("a", &orchv1.Toleration{Operator: "Exists"})}, nil, 0},
		{"one of two taints untolerated: now", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0), taint("other", 0)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, nil))}, []string{"a"}, 0},
		{"the shortest toleration of a taint wins", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, secs(60)), tol("", secs(10)))}, nil, 10 * time.Second},
		{"the earliest deadline over taints; next wait is the soonest pod", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0), taint("other", 0)},
			[]*orchv1.Pod{pod("a", tol(api.TaintNodeUnreachable, secs(30)), tol("other", secs(20))), pod("b", tol("", secs(7)))}, nil, 7 * time.Second},
		{"Equal compares the value", []*orchv1.Taint{{Key: "k", Value: "v", Effect: "NoExecute"}},
			[]*orchv1.Pod{pod("a", &orchv1.Toleration{Key: "k", Value: "v"}), pod("b", &orchv1.Toleration{Key: "k", Value: "w"})}, []string{"b"}, 0},
		{"a toleration of another effect does not count", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0)},
			[]*orchv1.Pod{pod("a", &orchv1.Toleration{Key: api.TaintNodeUnreachable, Operator: "Exists", Effect: "NoSchedule"})}, []string{"a"}, 0},
		{"terminating and finished pods are left alone", []*orchv1.Taint{taint(api.TaintNodeUnreachable, 0)},
			[]*orchv1.Pod{terminating, finished}, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			evict, wait := planEvictions(c.taints, c.pods, now)
			var names []string
			for _, p := range evict {
				names = append(names, p.GetMetadata().GetName())
			}
			if !slices.Equal(names, c.evict) {
				t.Errorf("evict = %v, want %v", names, c.evict)
			}
			if wait != c.wait {
				t.Errorf("wait = %v, want %v", wait, c.wait)
			}
		})
	}
}
