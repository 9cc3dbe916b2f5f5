package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// exitError carries a remote command's exit code to orchctl's own.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("command terminated with exit code %d", e.code) }

// noTTYWarning is kubectl's, word for word.
const noTTYWarning = "Unable to use a TTY - input is not a terminal or the right kind of file"

// useTTY decides, as kubectl does, whether a session gets a terminal: only with stdin
// (-t alone is dropped silently) and only when stdin is a terminal (else with a warning).
func useTTY(stdin, tty, stdinIsTerminal bool) (use, warn bool) {
	if !stdin || !tty {
		return false, false
	}
	if !stdinIsTerminal {
		return false, true
	}
	return true, false
}

// terminalFd returns the descriptor of r or w when it is a terminal.
func terminalFd(f any) (int, bool) {
	file, ok := f.(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return 0, false
	}
	return int(file.Fd()), true
}

// terminalSize is the size of the local terminal as a request field; nil when neither
// stdout nor stdin is a terminal (kubectl asks stdout first).
func (e *env) terminalSize() *orchv1.TerminalSize {
	for _, f := range []any{e.out, e.in} {
		if fd, ok := terminalFd(f); ok {
			if cols, rows, err := term.GetSize(fd); err == nil && cols > 0 && rows > 0 {
				return &orchv1.TerminalSize{Rows: uint32(rows), Cols: uint32(cols)}
			}
		}
	}
	return nil
}

type execStream interface {
	Send(*orchv1.PodExecRequest) error
	Receive() (*orchv1.PodExecResponse, error)
	CloseRequest() error
	CloseResponse() error
}

// session runs an exec or attach stream: sends first, then (with stdin) the local input,
// and (with tty) the local terminal in raw mode and its resizes, and writes the output.
// It returns the remote exit code as an exitError when not zero.
func (e *env) session(st execStream, first *orchv1.PodExecRequest, name string) error {
	var sendMu sync.Mutex
	send := func(m *orchv1.PodExecRequest) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return st.Send(m)
	}
	if first.GetTty() {
		fd, _ := terminalFd(e.in)
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer term.Restore(fd, old) //nolint:errcheck
		first.TerminalSize = e.terminalSize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-winch:
					if sz := e.terminalSize(); sz != nil {
						if send(&orchv1.PodExecRequest{TerminalSize: sz}) != nil {
							return
						}
					}
				case <-done:
					return
				}
			}
		}()
	}
	if !first.GetStdin() {
		first.StdinClose = true
	}
	if err := send(first); err != nil && !errors.Is(err, io.EOF) {
		return e.serverError(err, "pods", nil, name)
	}
	if first.GetStdin() {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := e.in.Read(buf)
				if n > 0 {
					if send(&orchv1.PodExecRequest{StdinData: append([]byte(nil), buf[:n]...)}) != nil {
						return
					}
				}
				if err != nil {
					_ = send(&orchv1.PodExecRequest{StdinClose: true})
					if !first.GetTty() {
						// A terminal keeps the request open for its resizes.
						sendMu.Lock()
						st.CloseRequest()
						sendMu.Unlock()
					}
					return
				}
			}
		}()
	} else if !first.GetTty() {
		st.CloseRequest()
	}
	defer st.CloseResponse()
	for {
		m, err := st.Receive()
		if errors.Is(err, io.EOF) {
			return errors.New("the stream ended without an exit code")
		}
		if err != nil {
			return e.serverError(err, "pods", nil, name)
		}
		e.out.Write(m.GetStdout())
		e.errOut.Write(m.GetStderr())
		if m.ExitCode != nil {
			if c := int(m.GetExitCode()); c != 0 {
				return exitError{c}
			}
			return nil
		}
	}
}

func newExecCommand(e *env) *cobra.Command {
	var container string
	var stdin, tty bool
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]",
		Short: "Run a command in a container",
		Long: "Run a command in a container. With -i the command reads orchctl's standard input; with -i -t " +
			"(-it) it runs on a terminal, with the local terminal in raw mode and its size kept in step.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: orchctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]")
			}
			if err := e.connect(); err != nil {
				return err
			}
			name, err := podArg(args[0])
			if err != nil {
				return err
			}
			_, isTerm := terminalFd(e.in)
			useT, warn := useTTY(stdin, tty, isTerm)
			if warn {
				fmt.Fprintln(e.errOut, noTTYWarning)
			}
			st := e.pods().Exec(cmd.Context())
			first := &orchv1.PodExecRequest{Namespace: e.namespace, Name: name, Container: container, Command: args[1:], Stdin: stdin, Tty: useT}
			return e.session(st, first, name)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "the container (default: the pod's only container)")
	f.BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the command")
	f.BoolVarP(&tty, "tty", "t", false, "run the command on a terminal (with -i, when standard input is a terminal)")
	return cmd
}

// attachContainer picks the container to attach to: the named one, else the first
// (as kubectl does without a default-container annotation).
func attachContainer(pod *orchv1.Pod, name string) (*orchv1.Container, error) {
	cs := pod.GetSpec().GetContainers()
	if name == "" {
		if len(cs) == 0 {
			return nil, fmt.Errorf("pod %s has no containers", pod.GetMetadata().GetName())
		}
		return cs[0], nil
	}
	for _, c := range append(append([]*orchv1.Container{}, pod.GetSpec().GetInitContainers()...), cs...) {
		if c.GetName() == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %s not found in pod %s", name, pod.GetMetadata().GetName())
}

func newAttachCommand(e *env) *cobra.Command {
	var container string
	var stdin, tty, quiet bool
	cmd := &cobra.Command{
		Use:   "attach POD [-c CONTAINER] [-i] [-t]",
		Short: "Attach to the main process of a running container",
		Long: "Attach to the main process of a running container: show its output from now on and, with -i, " +
			"send it standard input (the container needs stdin: true) and with -t a terminal (tty: true).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.connect(); err != nil {
				return err
			}
			name, err := podArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pod, err := e.pods().Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: e.namespace, Name: name}))
			if err != nil {
				return e.serverError(err, "pods", nil, name)
			}
			c, err := attachContainer(pod.Msg, container)
			if err != nil {
				return err
			}
			// kubectl's rules: -t needs a container with a terminal; a container with
			// one always gets a terminal session.
			if tty && !c.GetTty() {
				tty = false
				if !quiet {
					fmt.Fprintf(e.errOut, "error: Unable to use a TTY - container %s did not allocate one\n", c.GetName())
				}
			} else if c.GetTty() {
				tty = true
			}
			_, isTerm := terminalFd(e.in)
			useT, warn := useTTY(stdin, tty, isTerm)
			if warn && !quiet {
				fmt.Fprintln(e.errOut, noTTYWarning)
			}
			if useT && !quiet {
				fmt.Fprintln(e.errOut, "If you don't see a command prompt, try pressing enter.")
			}
			st := e.pods().Attach(ctx)
			first := &orchv1.PodExecRequest{Namespace: e.namespace, Name: name, Container: c.GetName(), Stdin: stdin, Tty: useT}
			err = e.session(st, first, name)
			var ee exitError
			if err == nil || errors.As(err, &ee) {
				// The container ended: the session did what it should.
				if stdin && useT && !quiet && pod.Msg.GetSpec().GetRestartPolicy() != "Never" && pod.Msg.GetSpec().GetRestartPolicy() != "OnFailure" {
					fmt.Fprintf(e.errOut, "Session ended, resume using 'orchctl attach %s -c %s -i -t' command when the pod is running\n", name, c.GetName())
				}
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "the container (default: the pod's first container)")
	f.BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the container (needs stdin: true in its spec)")
	f.BoolVarP(&tty, "tty", "t", false, "the container's terminal (needs tty: true in its spec; with -i, when standard input is a terminal)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only print output from the remote session")
	return cmd
}
