// Package runtime runs the containers of a worker node with runc's libcontainer.
//
// Every container has its own shim: the orchd binary re-executed as `orchd shim ROOT ID`
// in a new session. The shim creates and runs the container in-process, hands it the log
// file as stdout and stderr, waits for it and records how it ended in exit.json. The agent
// holding a Runtime can therefore die and restart without touching running containers: a
// new Runtime on the same root finds them again through libcontainer.Load and exit.json.
//
// The container's init is `/proc/self/exe init`, so every package init() of the binary
// also runs inside every container: this package's must never have side effects, and the
// binary must call InitIfChild first thing (see cmd/orchd).
//
// Layout under root:
//
//	root/<id>/spec.json    the Spec, written by Start
//	root/<id>/shim.json    the shim's pid and start time, written by the shim
//	root/<id>/shim.log     the shim's own stderr
//	root/<id>/exit.json    how the container ended (or failed to start), written by the shim
//	root/.runc/<id>/       libcontainer's state
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	// Sets up namespaces for `init` and for Exec before the Go runtime starts (a cgo
	// constructor); a no-op in any other process.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	// Without it the cgroupfs manager cannot apply device rules.
	_ "github.com/opencontainers/cgroups/devices"

	"github.com/orchd/orch/fsutil"
)

// Mount is a mount besides the standard /proc, /dev, /sys, /dev/pts, /dev/shm and
// /dev/mqueue.
type Mount struct {
	Source      string
	Destination string
	Type        string // "bind" for bind mounts (recursive), "tmpfs", ...
	Options     []string
	ReadOnly    bool
}

// Resources are the cgroup limits of a container; zero means unlimited (or the default).
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64  // microseconds per CPUPeriod
	CPUPeriod   uint64 // microseconds; 100000 when CPUQuota is set and this is not
	MemoryLimit int64  // bytes; swap is not allowed beyond it
	PidsLimit   int64
}

// Spec describes a container to run.
type Spec struct {
	ID       string // unique, filesystem-safe: letters, digits, '_', '-', '.'
	Rootfs   string // a prepared root filesystem directory
	Args     []string
	Env      []string // PATH gets a default when missing
	Cwd      string   // "/" when empty
	UID, GID uint32
	Hostname string // the ID when empty
	// NetNS is the path of an existing network namespace to join; "" creates a new one
	// with only a loopback interface.
	NetNS  string
	Mounts []Mount
	// Resources are applied to the cgroup CgroupParent/ID. A relative CgroupParent
	// (e.g. "orch/pod-<uid>") is taken relative to the cgroups of the agent process.
	Resources    Resources
	CgroupParent string
	// ParentResources, when set, make CgroupParent the container's pod cgroup: Start
	// creates it (or updates it) with these limits in every hierarchy before the
	// container, and Remove deletes that last level of CgroupParent once no container is
	// left in it; the levels above (the QoS cgroups) stay. Without it, Remove deletes
	// every level of CgroupParent that has become empty.
	ParentResources *Resources
	// OOMScoreAdj is the oom_score_adj of the container's processes; nil inherits the
	// agent's.
	OOMScoreAdj    *int
	LogPath        string // stdout and stderr are appended here
	ReadonlyRootfs bool

	// AdditionalGIDs are the supplementary groups of the container's processes.
	AdditionalGIDs []uint32
	// Privileged gives every capability and every host device, and lifts the masked and
	// read-only paths and any seccomp filter.
	Privileged bool
	// NoNewPrivileges sets no_new_privs (allowPrivilegeEscalation: false).
	NoNewPrivileges bool
	// CapAdd and CapDrop change the default capability set as containerd does: "ALL" in
	// CapAdd grants every capability, "ALL" in CapDrop starts from none; names are
	// case-insensitive, with or without the "CAP_" prefix.
	CapAdd, CapDrop []string
	// Seccomp is the seccomp profile: "" or SeccompUnconfined for none,
	// SeccompRuntimeDefault for the runtime's default profile, SeccompLocalhost for
	// SeccompProfile (JSON in the OCI or Docker format).
	Seccomp        string
	SeccompProfile []byte
	// Sysctls are set in the container's namespaces before its process starts.
	Sysctls map[string]string
	// Stdin keeps the main process's stdin open for AttachInput (Kubernetes' stdin);
	// TTY runs it on a terminal whose output goes to the log (Kubernetes' tty).
	Stdin, TTY bool
}

// Status is a container's lifecycle phase.
type Status string

const (
	StatusCreated Status = "created" // the shim is setting it up
	StatusRunning Status = "running"
	StatusExited  Status = "exited"
	StatusUnknown Status = "unknown" // neither running nor any record of how it ended
)

// Reasons for an exited container, as Kubernetes names them.
const (
	ReasonCompleted  = "Completed"
	ReasonError      = "Error"
	ReasonOOMKilled  = "OOMKilled"
	ReasonStartError = "StartError"
	ReasonUnknown    = "Unknown"
)

// State is what is known of a container.
type State struct {
	ID                    string
	Status                Status
	Pid                   int // of the container's init, in the host's pid namespace
	StartedAt, FinishedAt time.Time
	ExitCode              int // 128+signal when killed by a signal
	Signal                int
	OOMKilled             bool
	Reason                string // for exited containers: one of the Reason constants
	Message               string // details, e.g. why a start failed
}

// ErrNotFound is returned for an ID with no container under the runtime's root.
var ErrNotFound = errors.New("container not found")

// ErrRunning is returned by Remove for a container that has not stopped.
var ErrRunning = errors.New("container is running")

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$`)

const (
	specFile  = "spec.json"
	shimFile  = "shim.json"
	shimLog   = "shim.log"
	exitFile  = "exit.json"
	runcDir   = ".runc"
	pollEvery = 10 * time.Millisecond
	// exitGrace is how long a stopped container's shim gets to record its exit.
	exitGrace = 5 * time.Second
)

// Runtime manages the containers under one root directory. It keeps no state of its own
// in memory: several Runtimes (or a restarted agent) on the same root see the same
// containers. Its methods are safe for concurrent use.
type Runtime struct {
	root string
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a Runtime keeping container state under root, which it creates.
func New(root string, log *slog.Logger) (*Runtime, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, runcDir), 0o700); err != nil {
		return nil, fmt.Errorf("runtime root: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{root: root, log: log.With("component", "runtime"), locks: map[string]*sync.Mutex{}}, nil
}

// lock serializes Start, Stop and Remove of one container.
func (r *Runtime) lock(id string) func() {
	r.mu.Lock()
	l, ok := r.locks[id]
	if !ok {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.root, id) }

func (r *Runtime) runcRoot() string { return filepath.Join(r.root, runcDir) }

func validate(s *Spec) error {
	switch {
	case !validID.MatchString(s.ID):
		return fmt.Errorf("container id %q: want letters, digits, '_', '-' or '.', at most 200", s.ID)
	case !filepath.IsAbs(s.Rootfs):
		return fmt.Errorf("rootfs %q: not an absolute path", s.Rootfs)
	case len(s.Args) == 0:
		return errors.New("args: empty")
	case !filepath.IsAbs(s.LogPath):
		return fmt.Errorf("log path %q: not an absolute path", s.LogPath)
	case s.Cwd != "" && !filepath.IsAbs(s.Cwd):
		return fmt.Errorf("cwd %q: not an absolute path", s.Cwd)
	case s.OOMScoreAdj != nil && (*s.OOMScoreAdj < -1000 || *s.OOMScoreAdj > 1000):
		return fmt.Errorf("oom_score_adj %d: want -1000 to 1000", *s.OOMScoreAdj)
	}
	if s.ParentResources != nil {
		if err := validCgroupPath(s.CgroupParent); err != nil {
			return fmt.Errorf("cgroup parent with resources: %w", err)
		}
	}
	if fi, err := os.Stat(s.Rootfs); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("rootfs %s: not a directory", s.Rootfs)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mount destination %q: not an absolute path", m.Destination)
		}
	}
	return nil
}

// shimReady is what the shim reports on its readiness pipe: the pid once the container
// runs, or why it could not start.
type shimReady struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// Start spawns the container's shim and returns once the container runs. When the
// container cannot start the error says why, and the container stays listed as exited
// with Reason StartError until Removed. When ctx ends first, Start returns ctx's error
// and the container may still come up: List shows it.
func (r *Runtime) Start(ctx context.Context, s Spec) (State, error) {
	if err := validate(&s); err != nil {
		return State{}, fmt.Errorf("start %s: %w", s.ID, err)
	}
	defer r.lock(s.ID)()
	dir := r.dir(s.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return State{}, fmt.Errorf("start %s: container already exists", s.ID)
		}
		return State{}, fmt.Errorf("start %s: %w", s.ID, err)
	}
	if s.ParentResources != nil {
		// Before the container, so that it never runs outside its pod's limits.
		if _, err := EnsureCgroup(s.CgroupParent, *s.ParentResources); err != nil {
			os.RemoveAll(dir)
			return State{}, fmt.Errorf("start %s: pod cgroup: %w", s.ID, err)
		}
	}
	ready, err := r.spawnShim(dir, s)
	if err != nil {
		os.RemoveAll(dir)
		r.removeParentIfEmpty(s)
		return State{}, fmt.Errorf("start %s: %w", s.ID, err)
	}
	defer ready.Close()

	type result struct {
		msg shimReady
		err error
	}
	done := make(chan result, 1)
	go func() {
		var msg shimReady
		b, err := io.ReadAll(ready)
		if err == nil && len(b) > 0 {
			err = json.Unmarshal(b, &msg)
		} else if err == nil {
			err = fmt.Errorf("shim exited without reporting; see %s", filepath.Join(dir, shimLog))
		}
		done <- result{msg, err}
	}()
	select {
	case <-ctx.Done():
		return State{}, fmt.Errorf("start %s: %w", s.ID, ctx.Err())
	case res := <-done:
		if res.err != nil {
			return State{}, fmt.Errorf("start %s: %w", s.ID, res.err)
		}
		if res.msg.Error != "" {
			r.removeParentIfEmpty(s) // the shim may have failed before libcontainer used it
			return State{}, fmt.Errorf("start %s: %s", s.ID, res.msg.Error)
		}
		r.log.Debug("container started", "id", s.ID, "pid", res.msg.Pid)
	}
	return r.State(s.ID)
}

// spawnShim writes the spec and starts `/proc/self/exe shim ROOT ID` in a new session,
// returning the read end of its readiness pipe.
func (r *Runtime) spawnShim(dir string, s Spec) (*os.File, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, specFile), b, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, shimLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pw.Close()
	cmd := exec.Command("/proc/self/exe", "shim", r.root, s.ID)
	cmd.Args[0] = os.Args[0]
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf // stdin stays /dev/null
	cmd.ExtraFiles = []*os.File{pw}     // fd 3: the readiness pipe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return nil, fmt.Errorf("spawn shim: %w", err)
	}
	// Reap the shim when it ends; if this process dies first, init does.
	go cmd.Wait() //nolint:errcheck
	return pr, nil
}

// State returns the state of container id, or ErrNotFound.
func (r *Runtime) State(id string) (State, error) {
	if !validID.MatchString(id) {
		return State{}, fmt.Errorf("state %s: %w", id, ErrNotFound)
	}
	return r.state(id, exitGrace)
}

// state works out a container's state from exit.json, libcontainer's state and whether
// its shim is alive. A container that has stopped but whose shim is still alive is about
// to get its exit.json: wait up to grace for it.
func (r *Runtime) state(id string, grace time.Duration) (State, error) {
	dir := r.dir(id)
	deadline := time.Now().Add(grace)
	for {
		if _, err := os.Stat(dir); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return State{}, fmt.Errorf("state %s: %w", id, ErrNotFound)
			}
			return State{}, fmt.Errorf("state %s: %w", id, err)
		}
		if st, ok, err := readExit(dir); err != nil {
			return State{}, fmt.Errorf("state %s: %w", id, err)
		} else if ok {
			st.ID = id
			return st, nil
		}
		shimAlive := r.shimAlive(id)
		st := State{ID: id}
		c, err := libcontainer.Load(r.runcRoot(), id)
		if err != nil {
			if shimAlive || recentlyStarted(dir) {
				st.Status = StatusCreated
				return st, nil
			}
			st.Status, st.Reason = StatusUnknown, ReasonUnknown
			st.Message = "the shim ended without creating the container or recording why; see " + filepath.Join(dir, shimLog)
			return st, nil
		}
		status, err := c.Status()
		if err != nil {
			return State{}, fmt.Errorf("state %s: %w", id, err)
		}
		if lcs, err := c.State(); err == nil {
			st.Pid, st.StartedAt = lcs.InitProcessPid, lcs.Created
		}
		switch status {
		case libcontainer.Created:
			st.Status = StatusCreated
			return st, nil
		case libcontainer.Running, libcontainer.Paused:
			st.Status = StatusRunning
			return st, nil
		}
		// Stopped without exit.json.
		if !shimAlive || time.Now().After(deadline) {
			st.Pid = 0
			st.Status, st.Reason, st.ExitCode = StatusExited, ReasonUnknown, 255
			st.Message = "the container stopped but its shim did not record how"
			return st, nil
		}
		time.Sleep(pollEvery)
	}
}

// recentlyStarted reports whether Start wrote dir's spec in the last few seconds: its
// shim may not have recorded itself yet.
func recentlyStarted(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, specFile))
	return err == nil && time.Since(fi.ModTime()) < 10*time.Second
}

// List returns the state of every container under the root, sorted by ID.
func (r *Runtime) List() ([]State, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []State
	for _, e := range entries {
		if !e.IsDir() || !validID.MatchString(e.Name()) {
			continue
		}
		st, err := r.State(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stop sends SIGTERM to the container's init, SIGKILL after grace (an init without a
// SIGTERM handler ignores SIGTERM), and returns once the container has exited. Stopping
// an exited container does nothing.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("stop %s: %w", id, ErrNotFound)
	}
	defer r.lock(id)()
	st, err := r.state(id, 0)
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if st.Status != StatusRunning && st.Status != StatusCreated {
		return r.waitExited(ctx, id)
	}
	c, err := libcontainer.Load(r.runcRoot(), id)
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := c.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	err = r.waitExited(gctx, id)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
	r.log.Info("container ignored SIGTERM; killing it", "id", id, "grace", grace)
	if err := c.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := r.waitExited(ctx, id); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	return nil
}

// waitExited polls until the container is exited (or unknown: nothing left to wait for).
func (r *Runtime) waitExited(ctx context.Context, id string) error {
	for {
		st, err := r.state(id, 0)
		if err != nil {
			return err
		}
		if st.Status == StatusExited || st.Status == StatusUnknown {
			// A stopped container whose shim is alive gets its exit.json in a moment.
			if st.Reason != ReasonUnknown || !r.shimAlive(id) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// Remove destroys a stopped container: its libcontainer state, its cgroup, the empty
// cgroup parents above it, and its state directory. The log file stays. Removing a
// container that does not exist does nothing; removing a running one fails with
// ErrRunning.
func (r *Runtime) Remove(id string) error {
	if !validID.MatchString(id) {
		return nil
	}
	defer r.lock(id)()
	st, err := r.state(id, exitGrace)
	if errors.Is(err, ErrNotFound) {
		return r.destroy(id, Spec{}) // a half-removed container may have left libcontainer state
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if st.Status == StatusRunning || st.Status == StatusCreated {
		return fmt.Errorf("remove %s: %w; stop it first", id, ErrRunning)
	}
	// The shim exits right after writing exit.json; let it finish with the directory.
	deadline := time.Now().Add(exitGrace)
	for r.shimAlive(id) && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	s, _ := readSpec(r.dir(id))
	if err := r.destroy(id, s); err != nil {
		return err
	}
	if err := os.RemoveAll(r.dir(id)); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	r.log.Debug("container removed", "id", id)
	return nil
}

// destroy removes libcontainer's state and cgroups of a stopped container, then the
// cgroup parents of s that have become empty.
func (r *Runtime) destroy(id string, s Spec) error {
	c, err := libcontainer.Load(r.runcRoot(), id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", id, err)
	}
	var paths map[string]string
	if lcs, err := c.State(); err == nil {
		paths = maps.Clone(lcs.CgroupPaths) // Destroy empties libcontainer's map
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	removeCgroupParents(paths, s)
	return nil
}

// removeCgroupParents removes, in every hierarchy, the levels of s's CgroupParent above
// the container's cgroup that the runtime created for it and that are now empty: every
// level, or only the pod cgroup when s has ParentResources. rmdir fails on a cgroup with
// children or tasks, so the parents of other live containers stay.
func removeCgroupParents(paths map[string]string, s Spec) {
	parent := strings.Trim(filepath.Clean("/"+s.CgroupParent), "/")
	if parent == "" {
		return
	}
	levels := strings.Count(parent, "/") + 1
	if s.ParentResources != nil {
		levels = 1
	}
	for _, p := range paths {
		for range levels {
			p = filepath.Dir(p)
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				break
			}
		}
	}
}

// removeParentIfEmpty removes the pod cgroup of s when no container is left in it.
func (r *Runtime) removeParentIfEmpty(s Spec) {
	if s.ParentResources == nil {
		return
	}
	if err := RemoveCgroup(s.CgroupParent); err != nil && !errors.Is(err, ErrCgroupBusy) {
		r.log.Warn("remove pod cgroup", "cgroup", s.CgroupParent, "err", err)
	}
}

// CgroupPaths returns the cgroup directories of container id, by controller.
func (r *Runtime) CgroupPaths(id string) (map[string]string, error) {
	c, err := libcontainer.Load(r.runcRoot(), id)
	if err != nil {
		return nil, err
	}
	s, err := c.State()
	if err != nil {
		return nil, err
	}
	return maps.Clone(s.CgroupPaths), nil
}

// Exec runs args in running container id with the container's environment followed by
// env, its working directory and user, and returns the exit code (128+signal when
// killed). Ending ctx kills the process. With tty the process runs on a terminal of the
// kernel's default size and everything it writes goes to stdout (see ExecTerminal).
func (r *Runtime) Exec(ctx context.Context, id string, args, env []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	if tty {
		return r.exec(ctx, id, args, env, stdin, stdout, nil, &Terminal{})
	}
	return r.exec(ctx, id, args, env, stdin, stdout, stderr, nil)
}

// ExecTerminal runs args like Exec, on a new pty inside the container as `runc exec -t`
// does: the pty is the process's stdin, stdout and stderr and its controlling terminal.
// What stdin (if not nil) yields is typed into the terminal, everything the process
// writes (with the terminal's \r\n line ends) goes to out, and the terminal takes
// term's size and each of its resizes. Exec does not wait for stdin to end.
func (r *Runtime) ExecTerminal(ctx context.Context, id string, args, env []string, stdin io.Reader, out io.Writer, term Terminal) (int, error) {
	return r.exec(ctx, id, args, env, stdin, out, nil, &term)
}

func (r *Runtime) exec(ctx context.Context, id string, args, env []string, stdin io.Reader, stdout, stderr io.Writer, term *Terminal) (int, error) {
	if len(args) == 0 {
		return -1, fmt.Errorf("exec in %s: args: empty", id)
	}
	if !validID.MatchString(id) {
		return -1, fmt.Errorf("exec in %s: %w", id, ErrNotFound)
	}
	s, err := readSpec(r.dir(id))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	c, err := libcontainer.Load(r.runcRoot(), id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if status, err := c.Status(); err != nil || status != libcontainer.Running {
		return -1, fmt.Errorf("exec in %s: container is not running", id)
	}
	p := &libcontainer.Process{
		Args: args,
		Env:  append(processEnv(s.Env), env...),
		Cwd:  processCwd(s.Cwd),
		UID:  int(s.UID),
		GID:  int(s.GID),
	}
	type console struct {
		f   *os.File
		err error
	}
	var consoleC chan console
	var child *os.File
	if term == nil {
		p.Stdin, p.Stdout, p.Stderr = stdin, stdout, stderr
	} else {
		var parent *os.File
		parent, child, err = consoleSocketPair()
		if err != nil {
			return -1, fmt.Errorf("exec in %s: %w", id, err)
		}
		defer parent.Close()
		defer child.Close()
		p.ConsoleSocket = child
		p.ConsoleWidth, p.ConsoleHeight = term.Size.Cols, term.Size.Rows
		consoleC = make(chan console, 1)
		// The receive ends when init sends the master, or fails once every copy of the
		// child end is closed (init gone, and ours below).
		go func() {
			f, err := recvConsole(parent)
			consoleC <- console{f, err}
		}()
	}
	p.AdditionalGroups = additionalGroups(s) // those of the container's init
	err = c.Run(p)
	if child != nil {
		child.Close()
	}
	if err != nil {
		if consoleC != nil {
			select {
			case cons := <-consoleC:
				if cons.f != nil {
					cons.f.Close()
				}
			case <-time.After(exitGrace):
			}
		}
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = p.Signal(syscall.SIGKILL) })
	defer stop()
	var master *os.File
	copied := make(chan error, 1)
	if consoleC != nil {
		cons := <-consoleC
		if cons.err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			return -1, fmt.Errorf("exec in %s: %w", id, cons.err)
		}
		master = cons.f
		defer master.Close()
		go func() { copied <- copyConsole(stdout, master) }()
		if stdin != nil {
			go func() { _, _ = io.Copy(master, stdin) }()
		}
		resized, resizerDone := make(chan struct{}), make(chan struct{})
		// Runs before master.Close (defers run last first): no resize is under way on
		// a closed terminal.
		defer func() { close(resized); <-resizerDone }()
		go func() {
			defer close(resizerDone)
			for {
				select {
				case sz, ok := <-term.Resize:
					if !ok {
						return
					}
					if err := setWinsize(master, sz); err != nil {
						r.log.Debug("resize exec terminal", "id", id, "err", err)
					}
				case <-resized:
					return
				}
			}
		}()
	}
	ps, err := p.Wait()
	if master != nil {
		drainConsole(master, copied, time.Second)
	}
	if ps == nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	code, _ := exitCode(ps)
	if ctx.Err() != nil {
		return code, fmt.Errorf("exec in %s: %w", id, ctx.Err())
	}
	return code, nil
}

// exitCode returns a process's exit code, 128+signal when a signal killed it.
func exitCode(ps *os.ProcessState) (code, signal int) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal())
	}
	return ps.ExitCode(), 0
}

func readSpec(dir string) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// readExit reads exit.json; ok is false when there is none yet.
func readExit(dir string) (st State, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	var rec exitRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return st, false, fmt.Errorf("%s: %w", exitFile, err)
	}
	return State{
		Status: StatusExited, StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt,
		ExitCode: rec.ExitCode, Signal: rec.Signal, OOMKilled: rec.OOMKilled,
		Reason: rec.Reason, Message: rec.Message,
	}, true, nil
}
