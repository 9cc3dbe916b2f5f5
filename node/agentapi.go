package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// serveAPI serves the agent's own API (logs, exec and attach, relayed by the masters) on ln.
func (a *Agent) serveAPI(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle(orchv1connect.NewAgentServiceHandler(&agentAPI{a: a}))
	mux.Handle("GET /metrics", a.metrics.handler())
	srv := transport.Server(mux)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("agent API stopped", "err", err)
	}
}

type agentAPI struct{ a *Agent }

// container resolves the container a logs or exec request names in a pod on this node.
func (s *agentAPI) container(uid, name, podName string) (*podWorker, string, error) {
	s.a.mu.Lock()
	w, ok := s.a.workers[uid]
	s.a.mu.Unlock()
	if !ok {
		return nil, "", connect.NewError(connect.CodeNotFound, fmt.Errorf("pod %q is not running on this node", podName))
	}
	pod, _ := w.snapshot()
	var names []string
	for _, c := range append(append([]*orchv1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...) {
		names = append(names, c.GetName())
		if c.GetName() == name {
			return w, name, nil
		}
	}
	if name == "" && len(pod.GetSpec().GetContainers()) == 1 {
		return w, pod.GetSpec().GetContainers()[0].GetName(), nil
	}
	if name == "" {
		return nil, "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("a container name must be specified for pod %s, choose one of: %v", podName, names))
	}
	return nil, "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("container %s is not valid for pod %s", name, podName))
}

func (s *agentAPI) Logs(ctx context.Context, r *connect.Request[orchv1.PodLogsRequest], st *connect.ServerStream[orchv1.PodLogsResponse]) error {
	req := r.Msg
	w, name, err := s.container(req.GetPodUid(), req.GetContainer(), req.GetName())
	if err != nil {
		return err
	}
	atts := w.attempts(name)
	idx := len(atts) - 1
	if req.GetPrevious() {
		idx--
	}
	if idx < 0 {
		if req.GetPrevious() {
			return connect.NewError(connect.CodeNotFound, fmt.Errorf("previous terminated container %q in pod %q not found", name, req.GetName()))
		}
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("container %q in pod %q is waiting to start", name, req.GetName()))
	}
	att := atts[idx]
	f, err := os.Open(w.logPath(name, attemptOf(att.ID)))
	if err != nil {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("log of container %q: %w", name, err))
	}
	defer f.Close()
	send := func(b []byte) error { return st.Send(&orchv1.PodLogsResponse{Data: b}) }
	if req.TailLines != nil {
		if err := seekTail(f, req.GetTailLines()); err != nil {
			return err
		}
	}
	if !req.GetFollow() || req.GetPrevious() {
		_, err := io.Copy(sendWriter(send), f)
		return err
	}
	exited := func() bool {
		cur, err := s.a.rt.State(att.ID)
		return err != nil || cur.Status == runtime.StatusExited || cur.Status == runtime.StatusUnknown
	}
	return followLog(ctx, f, w.logPath(name, attemptOf(att.ID)), &s.a.logs, send, exited)
}

type sendWriter func([]byte) error

func (s sendWriter) Write(b []byte) (int, error) {
	if err := s(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// followLog sends what is appended to the log at path (open as f) until the container
// has exited and everything is read, or ctx ends. A rotation copies the log to path.1
// and truncates it: after one, the rest of the copy from the follower's offset is sent,
// then the log from its start. (Two rotations between two reads lose the first copy.)
func followLog(ctx context.Context, f *os.File, path string, rot *logRotations, send func([]byte) error, exited func() bool) error {
	return followLogEvery(ctx, f, path, rot, send, exited, 200*time.Millisecond)
}

// followLogEvery is followLog looking for new output every poll.
func followLogEvery(ctx context.Context, f *os.File, path string, rot *logRotations, send func([]byte) error, exited func() bool, poll time.Duration) error {
	w := sendWriter(send)
	seen := rot.generation(path)
	for {
		done := exited()
		err := rot.read(path, func(gen uint64) error {
			if gen != seen {
				seen = gen
				off, err := f.Seek(0, io.SeekCurrent)
				if err != nil {
					return err
				}
				if rf, err := os.Open(path + ".1"); err == nil {
					_, err = rf.Seek(off, io.SeekStart)
					if err == nil {
						_, err = io.Copy(w, rf)
					}
					rf.Close()
					if err != nil {
						return err
					}
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
			}
			_, err := io.Copy(w, f)
			return err
		})
		if err != nil || done {
			// Exited before this last read: everything it wrote has been sent.
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int64) error {
	if n < 0 {
		return nil
	}
	// Logs are bounded by rotation; count lines from the start for simplicity.
	var offsets []int64
	var pos int64
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			offsets = append(offsets, pos)
			pos += int64(len(line))
		}
		if err != nil {
			break
		}
	}
	var start int64
	switch {
	case n == 0:
		start = pos
	case int64(len(offsets)) > n:
		start = offsets[int64(len(offsets))-n]
	}
	_, err := f.Seek(start, io.SeekStart)
	return err
}

// streamWriter sends what a process writes as exec responses.
type streamWriter struct {
	mu     *sync.Mutex
	st     *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := &orchv1.PodExecResponse{}
	if w.stderr {
		m.Stderr = append([]byte(nil), p...)
	} else {
		m.Stdout = append([]byte(nil), p...)
	}
	if err := w.st.Send(m); err != nil {
		return 0, err
	}
	return len(p), nil
}

// termSize converts a requested terminal size; sizes beyond what a terminal holds are
// clamped.
func termSize(t *orchv1.TerminalSize) runtime.TermSize {
	return runtime.TermSize{Rows: uint16(min(t.GetRows(), math.MaxUint16)), Cols: uint16(min(t.GetCols(), math.MaxUint16))}
}

// sessionInput is where the messages of an exec or attach session go after the first:
// bytes for stdin, the end of stdin (called once, also when the stream ends) and
// terminal resizes. A nil func drops what it would get.
type sessionInput struct {
	stdin  func([]byte) error
	close  func()
	resize func(runtime.TermSize)
}

// pumpInput applies the stdin of the first message, then each message recv returns,
// until recv fails (the client closed its side or went away).
func pumpInput(first *orchv1.PodExecRequest, recv func() (*orchv1.PodExecRequest, error), in sessionInput) {
	closed := false
	apply := func(m *orchv1.PodExecRequest) {
		if len(m.GetStdinData()) > 0 && !closed && in.stdin != nil {
			if in.stdin(m.GetStdinData()) != nil {
				closed = true // the process no longer reads
			}
		}
		if m.GetStdinClose() && !closed {
			closed = true
			if in.close != nil {
				in.close()
			}
		}
	}
	apply(first)
	for {
		m, err := recv()
		if err != nil {
			if !closed && in.close != nil {
				in.close()
			}
			return
		}
		if m.TerminalSize != nil && in.resize != nil {
			in.resize(termSize(m.GetTerminalSize()))
		}
		apply(m)
	}
}

// runningContainer returns the id of the running instance of a container.
func runningContainer(w *podWorker, name, podName string) (string, error) {
	atts := w.attempts(name)
	if len(atts) == 0 || atts[len(atts)-1].Status != runtime.StatusRunning {
		return "", connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("container %q in pod %q is not running", name, podName))
	}
	return atts[len(atts)-1].ID, nil
}

// session reads the first message of an exec or attach stream and finds the running
// container it names.
func (s *agentAPI) session(st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) (first *orchv1.PodExecRequest, w *podWorker, name, id string, err error) {
	if first, err = st.Receive(); err != nil {
		return nil, nil, "", "", err
	}
	if w, name, err = s.container(first.GetPodUid(), first.GetContainer(), first.GetName()); err != nil {
		return nil, nil, "", "", err
	}
	if id, err = runningContainer(w, name, first.GetName()); err != nil {
		return nil, nil, "", "", err
	}
	return first, w, name, id, nil
}

func (s *agentAPI) Exec(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	first, _, _, id, err := s.session(st)
	if err != nil {
		return err
	}
	var stdin io.Reader = bytes.NewReader(nil)
	in := sessionInput{}
	if first.GetStdin() {
		pr, pw := io.Pipe()
		defer pr.Close()
		stdin = pr
		in.stdin = func(b []byte) error { _, err := pw.Write(b); return err }
		in.close = func() { pw.Close() }
	}
	var resize chan runtime.TermSize
	if first.GetTty() {
		resize = make(chan runtime.TermSize, 1)
		in.resize = func(sz runtime.TermSize) {
			// Only the latest size matters: replace one not applied yet.
			select {
			case <-resize:
			default:
			}
			resize <- sz
		}
	}
	go pumpInput(first, st.Receive, in)
	var mu sync.Mutex
	stdout, stderr := streamWriter{&mu, st, false}, streamWriter{&mu, st, true}
	var code int
	if first.GetTty() {
		term := runtime.Terminal{Size: termSize(first.GetTerminalSize()), Resize: resize}
		if !first.GetStdin() {
			stdin = nil
		}
		code, err = s.a.rt.ExecTerminal(ctx, id, first.GetCommand(), nil, stdin, stdout, term)
	} else {
		code, err = s.a.rt.Exec(ctx, id, first.GetCommand(), nil, stdin, stdout, stderr, false)
	}
	if err != nil && code < 0 {
		msg := err.Error()
		if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file") {
			return connect.NewError(connect.CodeNotFound, err)
		}
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	mu.Lock()
	defer mu.Unlock()
	c := int32(code)
	return st.Send(&orchv1.PodExecResponse{ExitCode: &c})
}

// attachPoll is how often an attach session looks for new output in the log: often, as
// someone may be typing.
const attachPoll = 20 * time.Millisecond

// Attach joins the main process of a running container: its output from now on, read
// from its log (stdout and stderr as one stream, sent as stdout), and, when the
// container was started with stdin: true, its input; with tty: true, its terminal's
// size. The session ends with the container's exit code when the container exits.
func (s *agentAPI) Attach(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	first, w, name, id, err := s.session(st)
	if err != nil {
		return err
	}
	var spec *orchv1.Container
	pod, _ := w.snapshot()
	for _, c := range append(append([]*orchv1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...) {
		if c.GetName() == name {
			spec = c
		}
	}
	if first.GetStdin() && !spec.GetStdin() {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("container %q in pod %q was not started with stdin: true: there is no input to attach to (attach without -i shows its output)", name, first.GetName()))
	}
	path := w.logPath(name, attemptOf(id))
	f, err := os.Open(path)
	if err != nil {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("log of container %q: %w", name, err))
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}

	in := sessionInput{}
	if spec.GetStdin() || spec.GetTty() {
		input, err := s.a.rt.AttachInput(id)
		if err != nil {
			return connect.NewError(connect.CodeFailedPrecondition, err)
		}
		defer input.Close()
		if first.GetStdin() {
			in.stdin = func(b []byte) error { _, err := input.Write(b); return err }
			if spec.GetStdinOnce() {
				// Kubernetes' stdinOnce: stdin closes when the first session ends.
				in.close = func() { _ = input.CloseStdin() }
			}
		}
		if spec.GetTty() {
			in.resize = func(sz runtime.TermSize) { _ = input.Resize(sz) }
			if first.TerminalSize != nil {
				in.resize(termSize(first.GetTerminalSize()))
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go pumpInput(first, st.Receive, in)
	var mu sync.Mutex
	out := streamWriter{&mu, st, false}
	exited := func() bool {
		cur, err := s.a.rt.State(id)
		return err != nil || cur.Status == runtime.StatusExited || cur.Status == runtime.StatusUnknown
	}
	if err := followLogEvery(ctx, f, path, &s.a.logs, func(b []byte) error { _, err := out.Write(b); return err }, exited, attachPoll); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	cur, err := s.a.rt.State(id)
	if err != nil {
		return connect.NewError(connect.CodeUnavailable, err)
	}
	mu.Lock()
	defer mu.Unlock()
	c := int32(cur.ExitCode)
	return st.Send(&orchv1.PodExecResponse{ExitCode: &c})
}
