package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/spf13/cobra"

	"github.com/orchd/orch/fsutil"
)

// InitIfChild turns this process into a container's init when it was started as
// `/proc/self/exe init` by libcontainer, and then never returns. Call it from an init()
// of package main (and of a test binary, see the tests' TestMain), so that it runs before
// anything else.
func InitIfChild() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // never returns
	}
}

// ShimCommand is the hidden `shim ROOT ID` subcommand that Start runs.
func ShimCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "shim ROOT ID",
		Short:  "Run one container and record how it ends (started by the worker agent)",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE:   func(_ *cobra.Command, args []string) error { return ShimMain(args) },
	}
}

// exitRecord is exit.json.
type exitRecord struct {
	ExitCode   int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message,omitempty"`
}

// shimRecord is shim.json: enough to tell whether the shim still runs.
type shimRecord struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // in clock ticks since boot, against pid reuse
}

// ShimMain runs the container ROOT/ID (args) described by ROOT/ID/spec.json, reports on
// fd 3 once it runs (or why it could not start), waits for it and writes exit.json.
// Its stdout and stderr are the shim's log; the container writes to Spec.LogPath.
func ShimMain(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: shim ROOT ID")
	}
	root, id := args[0], args[1]
	dir := filepath.Join(root, id)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "shim", "id", id)

	// Survive the agent's terminal going away and its pipes closing. Handled rather than
	// ignored: an ignored disposition would be inherited by the container's processes.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGPIPE)

	syscall.CloseOnExec(3) // the container must not hold the pipe open
	ready := os.NewFile(3, "ready")
	report := func(msg shimReady) {
		if ready == nil {
			return
		}
		b, _ := json.Marshal(msg)
		_, _ = ready.Write(b)
		_ = ready.Close()
		ready = nil
	}
	defer report(shimReady{Error: "shim failed; see " + filepath.Join(dir, shimLog)})

	if err := writeShimRecord(dir); err != nil {
		log.Error("record shim", "err", err)
		report(shimReady{Error: fmt.Sprintf("record shim: %v", err)})
		return err
	}
	c, p, cio, err := startContainer(root, id, log)
	if err != nil {
		log.Error("container did not start", "err", err)
		rec := exitRecord{ExitCode: 128, FinishedAt: time.Now().UTC(), Reason: ReasonStartError, Message: err.Error()}
		if werr := writeExit(dir, rec); werr != nil {
			log.Error("record exit", "err", werr)
		}
		report(shimReady{Error: err.Error()})
		return err
	}
	pid, _ := p.Pid()
	waitExeced(pid)
	report(shimReady{Pid: pid})
	log.Info("container running", "pid", pid)

	if cio != nil {
		go cio.serve()
	}
	ps, werr := p.Wait()
	if cio != nil {
		cio.finish()
	}
	rec := exitRecord{FinishedAt: time.Now().UTC(), ExitCode: 255, Reason: ReasonUnknown}
	if lcs, err := c.State(); err == nil {
		rec.StartedAt = lcs.Created
		rec.OOMKilled = oomKilled(lcs.CgroupPaths)
	}
	if ps != nil {
		rec.ExitCode, rec.Signal = exitCode(ps)
		rec.Reason = ReasonError
		if rec.ExitCode == 0 {
			rec.Reason = ReasonCompleted
		}
	} else {
		rec.Message = fmt.Sprintf("wait: %v", werr)
	}
	if rec.OOMKilled {
		rec.Reason = ReasonOOMKilled
	}
	log.Info("container exited", "code", rec.ExitCode, "signal", rec.Signal, "oom", rec.OOMKilled)
	if err := writeExit(dir, rec); err != nil {
		log.Error("record exit", "err", err)
		return err
	}
	return nil
}

// startContainer creates and starts the container, stdout and stderr appended to its
// log file. A container with Stdin or TTY also gets its input from the shim (and with
// TTY a terminal whose output the shim copies to the log): the returned containerIO.
func startContainer(root, id string, log *slog.Logger) (*libcontainer.Container, *libcontainer.Process, *containerIO, error) {
	dir := filepath.Join(root, id)
	s, err := readSpec(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read spec: %w", err)
	}
	cfg, err := libcontainerConfig(s)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("log file: %w", err)
	}
	logf, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("log file: %w", err)
	}
	defer logf.Close() // the container has its own descriptors
	c, err := libcontainer.Create(filepath.Join(root, runcDir), id, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &libcontainer.Process{
		Args:   s.Args,
		Env:    processEnv(s.Env),
		Cwd:    processCwd(s.Cwd),
		UID:    int(s.UID),
		GID:    int(s.GID),
		Stdout: logf, // an *os.File: the container writes to it directly
		Stderr: logf,
		Init:   true,
	}
	p.AdditionalGroups = additionalGroups(s) // libcontainer takes them from the process only
	// Known from Create on; a failed start empties libcontainer's copy.
	var paths map[string]string
	if lcs, err := c.State(); err == nil {
		paths = maps.Clone(lcs.CgroupPaths)
	}
	fail := func(err error) (*libcontainer.Container, *libcontainer.Process, *containerIO, error) {
		if derr := c.Destroy(); derr != nil {
			err = fmt.Errorf("%w (and destroying it: %v)", err, derr)
		}
		removeCgroupParents(paths, s)
		return nil, nil, nil, err
	}
	cio, afterRun, err := setupIO(dir, s, p, logf, log)
	if err != nil {
		return fail(err)
	}
	if err := c.Run(p); err != nil {
		if cio != nil {
			cio.finish()
		}
		return fail(err)
	}
	if err := afterRun(); err != nil {
		_ = p.Signal(syscall.SIGKILL)
		_, _ = p.Wait()
		cio.finish()
		return fail(fmt.Errorf("container input: %w", err))
	}
	return c, p, cio, nil
}

// waitExeced waits until the container's init has exec'd the container's program. Run
// returns just before: a signal sent meanwhile would reach libcontainer's init, which
// handles SIGTERM (and dies of it) where the program might not.
func waitExeced(pid int) {
	initCmdline := os.Args[0] + "\x00init\x00"
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || string(b) != initCmdline {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// oomKilled reports whether the kernel's OOM killer killed anything in the container's
// memory cgroup (v1: memory.oom_control, v2: memory.events).
func oomKilled(paths map[string]string) bool {
	for _, f := range []string{filepath.Join(paths["memory"], "memory.oom_control"), filepath.Join(paths[""], "memory.events")} {
		if !filepath.IsAbs(f) {
			continue
		}
		if n, ok := readKey(f, "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

// readKey reads the value of key from a "key value" per line cgroup file.
func readKey(file, key string) (uint64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func writeExit(dir string, rec exitRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, exitFile), b, 0o600)
}

func writeShimRecord(dir string) error {
	pid := os.Getpid()
	st, err := procStartTime(pid)
	if err != nil {
		return err
	}
	b, err := json.Marshal(shimRecord{Pid: pid, StartTime: st})
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, shimFile), b, 0o600)
}

// shimAlive reports whether the shim of container id still runs (a zombie does not).
func (r *Runtime) shimAlive(id string) bool {
	b, err := os.ReadFile(filepath.Join(r.dir(id), shimFile))
	if err != nil {
		return false
	}
	var rec shimRecord
	if json.Unmarshal(b, &rec) != nil || rec.Pid <= 0 {
		return false
	}
	st, state, err := procStat(rec.Pid)
	return err == nil && st == rec.StartTime && state != "Z" && state != "X"
}

func procStartTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat returns a process's start time (field 22 of /proc/PID/stat) and state.
func procStat(pid int) (start uint64, state string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) may contain spaces and parentheses: skip past its end.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, "", fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, "", fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64) // fields 3.. are f[0..]
	return start, f[0], err
}
