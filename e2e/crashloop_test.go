package e2e

// A crash-looping container on a real worker restarts with Kubernetes' back-off: the
// fifth restart comes, each wait roughly doubles from 10 s, the pod shows
// CrashLoopBackOff between restarts, and restartCount never goes backwards.

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestWorkerCrashLoopBackOff(t *testing.T) {
	t.Parallel()
	e := startWorkers(t, 1)
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "echo attempt; exit 3"]
`)
	restartAt := map[int]time.Time{}
	sawBackOff := false
	last := -1
	e.waitFor(t, 7*time.Minute, "restartCount 5", func() bool {
		p := e.pod(t, "crasher")
		n, _ := path(p, "status", "containerStatuses", 0, "restartCount").(float64)
		if int(n) < last {
			t.Fatalf("restartCount went from %d back to %d", last, int(n))
		}
		if int(n) > last {
			restartAt[int(n)] = time.Now()
			last = int(n)
		}
		if r, _ := path(p, "status", "containerStatuses", 0, "state", "waiting", "reason").(string); r == "CrashLoopBackOff" {
			sawBackOff = true
		}
		return n >= 5
	})
	if !sawBackOff {
		t.Error("the pod never showed CrashLoopBackOff between restarts")
	}
	// Restart k comes about 10 s * 2^(k-1) after restart k-1 (observed through polling
	// and the agent's sync, so allow slack), and later restarts wait longer.
	for k := 2; k <= 5; k++ {
		gap := restartAt[k].Sub(restartAt[k-1])
		want := 10 * time.Second << (k - 1)
		if gap < want-3*time.Second || gap > want+10*time.Second {
			t.Errorf("restart %d came %v after restart %d, want about %v", k, gap.Round(time.Second), k-1, want)
		}
	}
	out := e.getPods(t)
	t.Logf("after 5 restarts:\n%s", out)

	// The agent's metrics count the starts.
	resp, err := http.Get("http://" + e.c.Nodes[0].Host.IP + ":10250/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`orch_node_container_starts_total\{result="ok"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("agent /metrics has no container starts:\n%s", body)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 6 {
		t.Errorf("agent counted %d container starts, want at least 6", n)
	}
}
