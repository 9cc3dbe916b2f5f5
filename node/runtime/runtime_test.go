// These tests run real containers (root, cgroups, a busybox rootfs) and pin what the
// agent relies on: exit codes, logs, OOM kills, re-adoption by a new Runtime, stopping
// an init that ignores SIGTERM, exec, and leaving no cgroups behind.
package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
)

// The runtime starts /proc/self/exe as `shim ROOT ID`, and libcontainer starts it as
// `init` inside each new container. Under `go test`, /proc/self/exe is this test binary,
// so it must play both roles, as cmd/orchd does: init() for the container's init, which
// has to run before anything else, and TestMain for the shim.
func init() { InitIfChild() }

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "shim" {
		if err := ShimMain(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// requireContainers skips tests that cannot run containers here.
func requireContainers(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containers with namespaces and cgroups")
	}
	_, v1 := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	_, v2 := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	if v1 != nil && v2 != nil {
		t.Skip("needs cgroups: no memory cgroup v1 nor cgroup v2 under /sys/fs/cgroup")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs a static /bin/busybox (Debian: busybox-static) for the test rootfs")
	}
}

// testRootfs builds a busybox root filesystem.
func testRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(list)) {
		if name != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

type fixture struct {
	rt     *Runtime
	root   string // the runtime's state directory
	rootfs string
	parent string // cgroup parent of every container of the test
	// kept are cgroups under parent that a test made to stay (QoS levels): the cleanup
	// removes them, deepest first, after the containers.
	kept []string
	logs string
}

// newFixture returns a Runtime on a fresh root whose containers are all stopped and
// removed when the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireContainers(t)
	f := &fixture{root: t.TempDir(), rootfs: testRootfs(t), logs: t.TempDir(), parent: "orch-test-" + randHex(4)}
	rt, err := New(f.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	t.Cleanup(func() {
		states, err := rt.List()
		if err != nil {
			t.Error(err)
		}
		for _, st := range states {
			if err := rt.Stop(context.Background(), st.ID, 0); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			if err := rt.Remove(st.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for i := len(f.kept) - 1; i >= 0; i-- {
			if err := RemoveCgroup(f.kept[i]); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, dir := range parentCgroups(t, f.parent) {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup parent %s left behind", dir)
			}
		}
	})
	return f
}

// parentCgroups returns where the relative cgroup parent is in every hierarchy.
func parentCgroups(t *testing.T, parent string) []string {
	t.Helper()
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := cgroups.GetOwnCgroupPath("")
		if err != nil {
			t.Fatal(err)
		}
		return []string{filepath.Join(own, parent)}
	}
	subsystems, err := cgroups.GetAllSubsystems()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range subsystems {
		if own, err := cgroups.GetOwnCgroupPath(s); err == nil {
			dirs = append(dirs, filepath.Join(own, parent))
		}
	}
	return dirs
}

func (f *fixture) spec(args ...string) Spec {
	id := "c-" + randHex(6)
	return Spec{
		ID: id, Rootfs: f.rootfs, Args: args, CgroupParent: f.parent,
		LogPath: filepath.Join(f.logs, id+".log"),
	}
}

func (f *fixture) start(t *testing.T, s Spec) State {
	t.Helper()
	st, err := f.rt.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return st
}

// waitExited waits for container id to exit and returns its state.
func (f *fixture) waitExited(t *testing.T, id string) State {
	t.Helper()
	var st State
	waitFor(t, 20*time.Second, func() bool {
		var err error
		st, err = f.rt.State(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status == StatusExited
	})
	return st
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func readLog(t *testing.T, s Spec) string {
	t.Helper()
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunToCompletionLogsBothStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "echo hello; echo err >&2")
	f.start(t, s)
	st := f.waitExited(t, s.ID)
	if st.ExitCode != 0 || st.Signal != 0 || st.OOMKilled || st.Reason != ReasonCompleted {
		t.Fatalf("state = %+v, want exit 0 Completed", st)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Fatalf("startedAt %v, finishedAt %v", st.StartedAt, st.FinishedAt)
	}
	if got := readLog(t, s); got != "hello\nerr\n" {
		t.Fatalf("log = %q, want both lines", got)
	}
}

func TestReadoptStopAndRemove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sleep", "600")
	st := f.start(t, s)
	if st.Status != StatusRunning || st.Pid <= 0 {
		t.Fatalf("state = %+v, want running with a pid", st)
	}
	if err := f.rt.Remove(s.ID); !errors.Is(err, ErrRunning) {
		t.Fatalf("remove running container: err = %v, want ErrRunning", err)
	}

	// A new Runtime on the same root, as after an agent restart, finds the container.
	rt2, err := New(f.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := rt2.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != s.ID || list[0].Status != StatusRunning || list[0].Pid != st.Pid {
		t.Fatalf("list after restart = %+v, want %s running with pid %d", list, s.ID, st.Pid)
	}
	paths, err := rt2.CgroupPaths(s.ID)
	if err != nil || len(paths) == 0 {
		t.Fatalf("cgroup paths = %v, %v", paths, err)
	}

	// sleep as PID 1 has no SIGTERM handler, so SIGTERM is ignored: Stop must escalate.
	begin := time.Now()
	if err := rt2.Stop(context.Background(), s.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < time.Second || d > 10*time.Second {
		st, _ := rt2.State(s.ID)
		t.Fatalf("stop took %v, want the 1s grace then a kill; %+v", d, st)
	}
	st, err = rt2.State(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusExited || st.Signal != 9 || st.ExitCode != 137 {
		t.Fatalf("state after stop = %+v, want exited by signal 9, code 137", st)
	}

	if err := rt2.Remove(s.ID); err != nil {
		t.Fatal(err)
	}
	if err := rt2.Remove(s.ID); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := rt2.State(s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("state after remove: err = %v, want ErrNotFound", err)
	}
	for _, dir := range []string{filepath.Join(f.root, s.ID), filepath.Join(f.root, runcDir, s.ID)} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after remove", dir)
		}
	}
	for ctrl, p := range paths {
		for _, dir := range []string{p, filepath.Dir(p)} {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup %s (%s) still exists after remove", dir, ctrl)
			}
		}
	}
}

func TestExitCodeAndMissingExecutable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "exit 3")
	f.start(t, s)
	if st := f.waitExited(t, s.ID); st.ExitCode != 3 || st.Reason != ReasonError {
		t.Fatalf("state = %+v, want exit 3 Error", st)
	}

	s = f.spec("/bin/no-such-program", "x")
	_, err := f.rt.Start(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "no-such-program") {
		t.Fatalf("start of a missing executable: err = %v, want one naming it", err)
	}
	st, err := f.rt.State(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusExited || st.Reason != ReasonStartError || !strings.Contains(st.Message, "no-such-program") {
		t.Fatalf("state = %+v, want exited with StartError naming the program", st)
	}
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		t.Skip("the race-instrumented test binary, as the container's init, needs more than the 16 MiB limit")
	}
	f := newFixture(t)
	s := f.spec("tail", "/dev/zero") // no newline ever: tail buffers without bound
	s.Resources.MemoryLimit = 16 << 20
	f.start(t, s)
	st := f.waitExited(t, s.ID)
	if !st.OOMKilled || st.ExitCode != 137 || st.Reason != ReasonOOMKilled {
		t.Fatalf("state = %+v, want OOMKilled with exit 137", st)
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sleep", "600")
	s.Env = []string{"WHO=container"}
	f.start(t, s)
	ctx := context.Background()

	var out, errb bytes.Buffer
	code, err := f.rt.Exec(ctx, s.ID, []string{"sh", "-c", "echo in-$WHO; echo $EXTRA >&2"}, []string{"EXTRA=x"}, nil, &out, &errb, false)
	if err != nil || code != 0 {
		t.Fatalf("exec = %d, %v", code, err)
	}
	if out.String() != "in-container\n" || errb.String() != "x\n" {
		t.Fatalf("exec stdout %q, stderr %q", out.String(), errb.String())
	}

	code, err = f.rt.Exec(ctx, s.ID, []string{"sh", "-c", "exit 5"}, nil, nil, io.Discard, io.Discard, false)
	if err != nil || code != 5 {
		t.Fatalf("exec exit 5 = %d, %v", code, err)
	}

	out.Reset()
	code, err = f.rt.Exec(ctx, s.ID, []string{"cat"}, nil, strings.NewReader("piped\n"), &out, io.Discard, false)
	if err != nil || code != 0 || out.String() != "piped\n" {
		t.Fatalf("exec with stdin = %d, %v, %q", code, err, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe to write from one goroutine and read from another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestExecTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sleep", "600")
	f.start(t, s)
	ctx := context.Background()

	// A terminal of the requested size, with stdout and stderr on it and \r\n line ends.
	var out bytes.Buffer
	code, err := f.rt.ExecTerminal(ctx, s.ID, []string{"sh", "-c", "stty size; tty; echo err >&2; exit 4"}, nil, nil, &out, Terminal{Size: TermSize{Rows: 30, Cols: 100}})
	if err != nil || code != 4 {
		t.Fatalf("exec on a terminal = %d, %v", code, err)
	}
	if got := out.String(); !strings.HasPrefix(got, "30 100\r\n/dev/pts/") || !strings.HasSuffix(got, "\r\nerr\r\n") {
		t.Fatalf("exec on a terminal wrote %q", got)
	}

	// Exec with tty and no size: a terminal all the same.
	out.Reset()
	if code, err := f.rt.Exec(ctx, s.ID, []string{"tty"}, nil, nil, &out, io.Discard, true); err != nil || code != 0 || !strings.HasPrefix(out.String(), "/dev/pts/") {
		t.Fatalf("exec with tty = %d, %v, %q", code, err, out.String())
	}

	// An interactive shell: typed input, a resize while it runs, its exit code.
	pr, pw := io.Pipe()
	defer pw.Close()
	resize := make(chan TermSize, 1)
	var tout syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := f.rt.ExecTerminal(ctx, s.ID, []string{"sh"}, nil, pr, &tout, Terminal{Size: TermSize{Rows: 24, Cols: 80}, Resize: resize})
		done <- result{code, err}
	}()
	io.WriteString(pw, "echo $((6*7))\n")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(tout.String(), "42\r\n") })
	resize <- TermSize{Rows: 40, Cols: 120}
	// The resize and the typing travel apart: ask until the shell sees the new size.
	waitFor(t, 10*time.Second, func() bool {
		io.WriteString(pw, "stty size\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(tout.String(), "40 120\r\n")
	})
	io.WriteString(pw, "exit 3\n")
	select {
	case r := <-done:
		if r.err != nil || r.code != 3 {
			t.Fatalf("interactive exec = %d, %v; output %q", r.code, r.err, tout.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("interactive exec did not end; output %q", tout.String())
	}
}

func TestEnvCwdHostnameAndMounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "file"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := f.spec("sh", "-c", `echo "$FOO"; pwd; hostname; cat /data/file; touch /data/new 2>/dev/null && echo rw || echo ro; grep -c ' /scratch tmpfs' /proc/mounts`)
	s.Env = []string{"FOO=bar baz"}
	s.Cwd = "/tmp"
	s.Hostname = "pod-a"
	s.Mounts = []Mount{
		{Source: host, Destination: "/data", Type: "bind", ReadOnly: true},
		{Source: "tmpfs", Destination: "/scratch", Type: "tmpfs", Options: []string{"size=1m"}},
	}
	f.start(t, s)
	if st := f.waitExited(t, s.ID); st.ExitCode != 0 {
		t.Fatalf("state = %+v; log:\n%s", st, readLog(t, s))
	}
	want := "bar baz\n/tmp\npod-a\nfrom-host\nro\n1\n"
	if got := readLog(t, s); got != want {
		t.Fatalf("log = %q, want %q", got, want)
	}
}
