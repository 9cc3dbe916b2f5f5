package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// trackingFSM sits between raft and the caller's FSM. It hands the caller only
// command entries and records the index of the last entry applied, so that
// WaitApplied can block on it without polling.
type trackingFSM struct {
	inner raft.BatchingFSM

	mu       sync.Mutex
	applied  uint64
	advanced chan struct{} // closed and replaced whenever applied grows
}

func newTrackingFSM(inner raft.BatchingFSM) *trackingFSM {
	return &trackingFSM{inner: inner, advanced: make(chan struct{})}
}

// ApplyBatch passes command entries to the caller's FSM; configuration entries
// are raft's business and get a nil response.
func (f *trackingFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) == 0 {
		return nil
	}
	cmds := logs
	var pos []int // pos[j] = position in logs of cmds[j]; nil when nothing was filtered
	for _, l := range logs {
		if l.Type != raft.LogCommand {
			cmds, pos = nil, []int{}
			for i, l := range logs {
				if l.Type == raft.LogCommand {
					cmds = append(cmds, l)
					pos = append(pos, i)
				}
			}
			break
		}
	}
	resps := make([]any, len(logs))
	if len(cmds) > 0 {
		out := f.inner.ApplyBatch(cmds)
		if len(out) != len(cmds) {
			panic(fmt.Sprintf("consensus: FSM returned %d responses for %d logs", len(out), len(cmds)))
		}
		if pos == nil {
			resps = out
		} else {
			for j, r := range out {
				resps[pos[j]] = r
			}
		}
	}
	f.advance(logs[len(logs)-1].Index)
	return resps
}

func (f *trackingFSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f *trackingFSM) advance(index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if index <= f.applied {
		return
	}
	f.applied = index
	close(f.advanced)
	f.advanced = make(chan struct{})
}

func (f *trackingFSM) appliedIndex() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.advanced
}

// Snapshots carry a small header with the applied index: raft's FSM.Restore
// does not say which index it restores, and WaitApplied must know.
const (
	snapshotMagic      = "orchsnp1"
	snapshotHeaderSize = len(snapshotMagic) + 8
)

func (f *trackingFSM) Snapshot() (raft.FSMSnapshot, error) {
	// raft calls Snapshot between batches, so applied is exactly the state the
	// caller's snapshot captures.
	index, _ := f.appliedIndex()
	s, err := f.inner.Snapshot()
	if err != nil {
		return nil, err
	}
	return &indexedSnapshot{inner: s, index: index}, nil
}

func (f *trackingFSM) Restore(rc io.ReadCloser) error {
	index, body, err := readSnapshotHeader(rc)
	if err != nil {
		return err
	}
	if err := f.inner.Restore(body); err != nil {
		return err
	}
	f.advance(index)
	return nil
}

type indexedSnapshot struct {
	inner raft.FSMSnapshot
	index uint64
}

func (s *indexedSnapshot) Persist(sink raft.SnapshotSink) error {
	hdr := make([]byte, snapshotHeaderSize)
	copy(hdr, snapshotMagic)
	binary.BigEndian.PutUint64(hdr[len(snapshotMagic):], s.index)
	if _, err := sink.Write(hdr); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot header: %w", err)
	}
	return s.inner.Persist(sink)
}

func (s *indexedSnapshot) Release() { s.inner.Release() }

// readSnapshotHeader strips the header written by indexedSnapshot. A stream
// without one (a backup restored with raft.Restore) is passed through whole
// with index 0.
func readSnapshotHeader(rc io.ReadCloser) (uint64, io.ReadCloser, error) {
	hdr := make([]byte, snapshotHeaderSize)
	n, err := io.ReadFull(rc, hdr)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if n == snapshotHeaderSize && string(hdr[:len(snapshotMagic)]) == snapshotMagic {
		return binary.BigEndian.Uint64(hdr[len(snapshotMagic):]), rc, nil
	}
	return 0, readCloser{io.MultiReader(bytes.NewReader(hdr[:n]), rc), rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
