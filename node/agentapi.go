package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// serveAPI serves the agent's own API (logs and exec, relayed by the masters) on ln.
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
		case <-time.After(200 * time.Millisecond):
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

func (s *agentAPI) Exec(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	first, err := st.Receive()
	if err != nil {
		return err
	}
	w, name, err := s.container(first.GetPodUid(), first.GetContainer(), first.GetName())
	if err != nil {
		return err
	}
	atts := w.attempts(name)
	if len(atts) == 0 || atts[len(atts)-1].Status != runtime.StatusRunning {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("container %q in pod %q is not running", name, first.GetName()))
	}
	id := atts[len(atts)-1].ID
	var stdin io.Reader
	if first.GetStdin() {
		pr, pw := io.Pipe()
		defer pr.Close()
		stdin = pr
		if len(first.GetStdinData()) > 0 || first.GetStdinClose() {
			go func() {
				pw.Write(first.GetStdinData())
				if first.GetStdinClose() {
					pw.Close()
				}
			}()
		}
		go func() {
			for {
				m, err := st.Receive()
				if err != nil {
					pw.Close()
					return
				}
				if len(m.GetStdinData()) > 0 {
					if _, err := pw.Write(m.GetStdinData()); err != nil {
						return
					}
				}
				if m.GetStdinClose() {
					pw.Close()
					return
				}
			}
		}()
	} else {
		stdin = bytes.NewReader(nil)
	}
	var mu sync.Mutex
	code, err := s.a.rt.Exec(ctx, id, first.GetCommand(), nil, stdin, streamWriter{&mu, st, false}, streamWriter{&mu, st, true}, first.GetTty())
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
