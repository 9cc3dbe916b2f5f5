package node

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/orchd/orch/node/runtime"
)

// rotateLog keeps a container log under max bytes: past it, the log is copied to
// path.1 (replacing the previous one) and truncated in place. The container's output
// file is opened with O_APPEND, so its next write lands at the new end; what it writes
// between the copy and the truncation is lost (the copytruncate trade-off: the log file
// is the container's own stdout, with no copying process in between).
func rotateLog(path string, max int64) (bool, error) {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= max {
		return false, nil
	}
	src, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	dst, err := os.OpenFile(path+".1", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return false, err
	}
	if err := dst.Close(); err != nil {
		return false, err
	}
	return true, os.Truncate(path, 0)
}

// logRotations serialises rotations with the readers that follow a log, and counts
// rotations per log so that a follower knows its log was truncated under it (the size
// alone cannot tell: the log may have grown past the follower's offset again).
type logRotations struct {
	mu  sync.RWMutex
	gen map[string]uint64
}

func (r *logRotations) rotate(path string, max int64) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rotated, err := rotateLog(path, max)
	if rotated {
		if r.gen == nil {
			r.gen = map[string]uint64{}
		}
		r.gen[path]++
	}
	return rotated, err
}

// generation is how many times path has been rotated.
func (r *logRotations) generation(path string) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gen[path]
}

// read runs fn with no rotation of any log under way, passing path's generation.
func (r *logRotations) read(path string, fn func(gen uint64) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return fn(r.gen[path])
}

// logRotateLoop rotates the logs of running containers every few seconds.
func (a *Agent) logRotateLoop(ctx context.Context) {
	if a.cfg.ContainerLogMaxSize <= 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		states, err := a.rt.List()
		if err != nil {
			continue
		}
		for _, st := range states {
			uid := podUIDOf(st.ID)
			if uid == "" || st.Status != runtime.StatusRunning {
				continue
			}
			a.mu.Lock()
			w, ok := a.workers[uid]
			a.mu.Unlock()
			if !ok {
				continue
			}
			name := containerName(st.ID)
			path := w.logPath(name, attemptOf(st.ID))
			if rotated, err := a.logs.rotate(path, a.cfg.ContainerLogMaxSize); err != nil {
				a.log.Warn("rotate container log", "container", st.ID, "err", err)
			} else if rotated {
				a.log.Debug("rotated container log", "container", st.ID)
			}
		}
	}
}

// containerName is the container part of a container ID "<uid>-<name>-<attempt>".
func containerName(id string) string {
	rest := id[37:]
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i] == '-' {
			return rest[:i]
		}
	}
	return rest
}
