package e2e

// Terminals: orchctl exec -it and attach -it run under tmux, a real terminal whose keys
// the test types and whose screen it reads, against real containers. What they pin: the
// remote shell gets a terminal of the local size, follows resizes, reads what is typed,
// and orchctl ends with the remote exit code, leaving the local terminal as it was.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tmux is one tmux server of the test's own (its own socket and no user config) running
// one session of 80x24 without a status line.
type tmux struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, dir, command string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux (apt-get install tmux; make deps does it)")
	}
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g status off\nset -g default-terminal screen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := &tmux{t: t, sock: filepath.Join(dir, "tmux.sock")}
	x.run("-f", conf, "new-session", "-d", "-s", "orch-test", "-x", "80", "-y", "24", command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", x.sock, "kill-server").Run() })
	return x
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.sock}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types s and Enter.
func (x *tmux) typeLine(s string) {
	x.t.Helper()
	x.run("send-keys", "-t", "orch-test", "-l", s)
	x.run("send-keys", "-t", "orch-test", "Enter")
}

func (x *tmux) screen() string {
	x.t.Helper()
	return x.run("capture-pane", "-p", "-t", "orch-test")
}

// paneSize is what tmux says the pane's size is, as stty size prints it: "rows cols".
func (x *tmux) paneSize() string {
	x.t.Helper()
	return strings.TrimSpace(x.run("display-message", "-p", "-t", "orch-test", "#{pane_height} #{pane_width}"))
}

// waitScreen waits until the screen shows a line equal to line.
func (x *tmux) waitScreen(e *workerEnv, what, line string) {
	x.t.Helper()
	e.waitFor(x.t, 20*time.Second, what+" ("+line+") on the screen:\n"+x.screen(), func() bool {
		for _, l := range strings.Split(x.screen(), "\n") {
			if strings.TrimSpace(l) == line {
				return true
			}
		}
		return false
	})
}

// wrapped is a shell command line for the tmux pane: orchctl against e's master, its
// exit code written to dir/code, and the terminal's settings before and after it to
// dir/stty.before and dir/stty.after.
func wrapped(e *workerEnv, dir string, args ...string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	cmd := []string{"env", q("ORCH_CONFIG=" + filepath.Join(e.c.Dir, "orchctl-config")), q(filepath.Join(e.c.Bin, "orchctl")), "--server", q(e.m.URL())}
	for _, a := range args {
		cmd = append(cmd, q(a))
	}
	return fmt.Sprintf("stty -g > %s; %s; echo $? > %s; stty -g > %s; sleep 600",
		q(filepath.Join(dir, "stty.before")), strings.Join(cmd, " "), q(filepath.Join(dir, "code")), q(filepath.Join(dir, "stty.after")))
}

// waitExit waits for the wrapped orchctl to end and returns its exit code, checking that
// it left the terminal as it found it.
func waitExit(t *testing.T, e *workerEnv, x *tmux, dir string) int {
	t.Helper()
	var code []byte
	e.waitFor(t, 20*time.Second, "orchctl to exit; screen:\n"+x.screen(), func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "code"))
		code = b
		return err == nil && len(bytes.TrimSpace(b)) > 0
	})
	e.waitFor(t, 5*time.Second, "stty -g after orchctl", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "stty.after"))
		return err == nil && len(b) > 0
	})
	before, _ := os.ReadFile(filepath.Join(dir, "stty.before"))
	after, _ := os.ReadFile(filepath.Join(dir, "stty.after"))
	if !bytes.Equal(before, after) {
		t.Errorf("orchctl left the terminal changed:\nbefore %s after  %s", before, after)
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(code)))
	if err != nil {
		t.Fatalf("exit code %q: %v", code, err)
	}
	return n
}

func TestTerminals(t *testing.T) {
	e := startWorkers(t, 1)
	e.apply(t, `
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: console
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    command: ["sh"]
    stdin: true
    tty: true
---
apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
`)
	for _, p := range []string{"shell", "console", "ticker"} {
		e.waitFor(t, 60*time.Second, p+" Running", func() bool { return e.phase(t, p) == "Running" })
	}

	t.Run("exec -it runs a shell on a terminal of the local size", func(t *testing.T) {
		dir := t.TempDir()
		x := startTmux(t, dir, wrapped(e, dir, "exec", "-it", "shell", "--", "sh"))
		x.waitScreen(e, "the shell's prompt", "/ #")
		if got := x.paneSize(); got != "24 80" {
			t.Fatalf("pane size %q, want 24 80", got)
		}
		x.typeLine("echo $((6*7)); stty size")
		x.waitScreen(e, "the answer", "42")
		x.waitScreen(e, "the terminal's size", "24 80")

		x.run("resize-window", "-t", "orch-test", "-x", "100", "-y", "30")
		if got := x.paneSize(); got != "30 100" {
			t.Fatalf("pane size after resize-window %q, want 30 100", got)
		}
		x.typeLine("clear; stty size")
		x.waitScreen(e, "the new size", "30 100")

		x.typeLine("exit 3")
		if code := waitExit(t, e, x, dir); code != 3 {
			t.Fatalf("orchctl exited %d, want 3", code)
		}
	})

	t.Run("exec -it with stdin not a terminal warns and runs without one", func(t *testing.T) {
		out, errOut, err := e.c.Orchctl(e.m, "hello\n", "exec", "-it", "shell", "--", "sh", "-c", "read x; echo got $x; tty; exit 5")
		if !strings.Contains(errOut, "Unable to use a TTY - input is not a terminal or the right kind of file") {
			t.Errorf("stderr %q: want kubectl's warning", errOut)
		}
		if out != "got hello\nnot a tty\n" {
			t.Errorf("stdout %q", out)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
			t.Errorf("exit: %v, want exit code 5", err)
		}
	})

	t.Run("attach -it joins the container's own shell", func(t *testing.T) {
		dir := t.TempDir()
		x := startTmux(t, dir, wrapped(e, dir, "attach", "-it", "console"))
		x.waitScreen(e, "kubectl's hint", "If you don't see a command prompt, try pressing enter.")
		x.typeLine("")
		x.waitScreen(e, "the container's prompt", "/ #")
		x.typeLine("echo $((6*7)); stty size")
		x.waitScreen(e, "the answer", "42")
		x.waitScreen(e, "the terminal's size", "24 80")
		x.run("resize-window", "-t", "orch-test", "-x", "100", "-y", "30")
		x.typeLine("stty size")
		x.waitScreen(e, "the new size", "30 100")
		x.typeLine("exit 3")
		// kubectl attach ends with the container, successfully.
		if code := waitExit(t, e, x, dir); code != 0 {
			t.Fatalf("orchctl attach exited %d, want 0", code)
		}
		e.waitFor(t, 20*time.Second, "console Failed", func() bool { return e.phase(t, "console") == "Failed" })
		if code, _ := path(e.pod(t, "console"), "status", "containerStatuses", 0, "state", "terminated", "exitCode").(float64); code != 3 {
			t.Errorf("console's exit code %v, want 3", code)
		}
		// What the session showed is in the container's log too.
		if logs := orchctl(t, e.c, e.m, "logs", "console"); !strings.Contains(logs, "42\r\n24 80\r\n") {
			t.Errorf("logs console = %q", logs)
		}
	})

	t.Run("attach without -i streams the output of any container", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(e.c.Bin, "orchctl"), "--server", e.m.URL(), "attach", "ticker")
		cmd.Env = append(os.Environ(), "ORCH_CONFIG="+filepath.Join(e.c.Dir, "orchctl-config"))
		var out syncBuf
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		e.waitFor(t, 15*time.Second, "ticks", func() bool { return strings.Count(out.String(), "tick ") >= 3 })
		// Only what was written after attaching: not from tick 0.
		if strings.HasPrefix(out.String(), "tick 0\n") {
			t.Errorf("attach replayed the log: %q", out.String())
		}

		errOut := orchctlFails(t, e.c, e.m, "x\n", "attach", "-i", "ticker")
		if !strings.Contains(errOut, "stdin: true") {
			t.Errorf("attach -i to a container without stdin: %q", errOut)
		}
		errOut = orchctlFails(t, e.c, e.m, "", "attach", "ticker", "-c", "nope")
		if !strings.Contains(errOut, "container nope not found in pod ticker") {
			t.Errorf("attach to a missing container: %q", errOut)
		}
	})
}

// syncBuf is a buffer a process writes to while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
