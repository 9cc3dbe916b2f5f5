package harness

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one long-running program the harness started, with its output in a log
// file; masters and node agents are both.
type process struct {
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Running reports whether the process is up.
func (p *process) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs cmd in its own process group with stdout and stderr appended to the log.
func (p *process) start(cmd *exec.Cmd) error {
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return nil
}

// signal sends sig and waits for the process to exit, killing it after 15 s.
func (p *process) signal(sig syscall.Signal) {
	if !p.Running() {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail returns the last n lines of the log under a title.
func (p *process) logTail(title string, n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- %s log (last %d lines)\n%s", title, n, strings.Join(lines, "\n"))
}
