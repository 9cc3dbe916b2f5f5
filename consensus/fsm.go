package consensus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// trackingFSM sits between raft and the caller's FSM. It hands the caller only
// the caller's command entries and records the index of the last entry applied, so
// that WaitApplied can block on it without polling. Registry entries (registry.go)
// it applies itself.
type trackingFSM struct {
	inner raft.BatchingFSM
	reg   registry

	mu       sync.Mutex
	applied  uint64
	advanced chan struct{} // closed and replaced whenever applied grows
}

func newTrackingFSM(inner raft.BatchingFSM) *trackingFSM {
	return &trackingFSM{inner: inner, advanced: make(chan struct{})}
}

// ApplyBatch passes the caller's command entries to the caller's FSM;
// configuration entries are raft's business and registry entries this package's,
// and both get a nil response.
func (f *trackingFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) == 0 {
		return nil
	}
	isCmd := func(l *raft.Log) bool { return l.Type == raft.LogCommand && !isRegistryEntry(l) }
	cmds := logs
	var pos []int // pos[j] = position in logs of cmds[j]; nil when nothing was filtered
	for _, l := range logs {
		if !isCmd(l) {
			cmds, pos = nil, []int{}
			for i, l := range logs {
				if isCmd(l) {
					cmds = append(cmds, l)
					pos = append(pos, i)
				}
			}
			break
		}
	}
	resps := make([]any, len(logs))
	// Registry entries first: they never depend on the caller's commands.
	for _, l := range logs {
		if isRegistryEntry(l) {
			f.reg.apply(l)
		}
	}
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
// does not say which index it restores, and WaitApplied must know. Version 2
// adds the registry: its length (4 bytes) and JSON after the index.
const (
	snapshotMagic      = "orchsnp1"
	snapshotMagicV2    = "orchsnp2"
	snapshotHeaderSize = len(snapshotMagic) + 8
	maxRegistrySize    = 64 << 20
)

func (f *trackingFSM) Snapshot() (raft.FSMSnapshot, error) {
	// raft calls Snapshot between batches, so applied is exactly the state the
	// caller's snapshot captures.
	index, _ := f.appliedIndex()
	reg, err := json.Marshal(f.reg.snapshot())
	if err != nil {
		return nil, fmt.Errorf("encode server registry: %w", err)
	}
	s, err := f.inner.Snapshot()
	if err != nil {
		return nil, err
	}
	return &indexedSnapshot{inner: s, index: index, registry: reg}, nil
}

func (f *trackingFSM) Restore(rc io.ReadCloser) error {
	hdr, body, err := readSnapshotHeader(rc)
	if err != nil {
		return err
	}
	if err := f.inner.Restore(body); err != nil {
		return err
	}
	f.reg.restore(hdr.registry)
	f.advance(hdr.index)
	return nil
}

type indexedSnapshot struct {
	inner    raft.FSMSnapshot
	index    uint64
	registry []byte // JSON of registryState
}

func (s *indexedSnapshot) Persist(sink raft.SnapshotSink) error {
	hdr := make([]byte, snapshotHeaderSize+4, snapshotHeaderSize+4+len(s.registry))
	copy(hdr, snapshotMagicV2)
	binary.BigEndian.PutUint64(hdr[len(snapshotMagicV2):], s.index)
	binary.BigEndian.PutUint32(hdr[snapshotHeaderSize:], uint32(len(s.registry)))
	hdr = append(hdr, s.registry...)
	if _, err := sink.Write(hdr); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot header: %w", err)
	}
	return s.inner.Persist(sink)
}

func (s *indexedSnapshot) Release() { s.inner.Release() }

// snapshotHeader is what readSnapshotHeader found.
type snapshotHeader struct {
	index    uint64
	registry registryState
}

// readSnapshotHeader strips the header written by indexedSnapshot (either
// version). A stream without one (a backup restored with raft.Restore) is passed
// through whole with index 0 and an empty registry.
func readSnapshotHeader(rc io.ReadCloser) (snapshotHeader, io.ReadCloser, error) {
	var h snapshotHeader
	hdr := make([]byte, snapshotHeaderSize)
	n, err := io.ReadFull(rc, hdr)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return h, nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if n != snapshotHeaderSize {
		return h, readCloser{io.MultiReader(bytes.NewReader(hdr[:n]), rc), rc}, nil
	}
	switch string(hdr[:len(snapshotMagic)]) {
	case snapshotMagic:
		h.index = binary.BigEndian.Uint64(hdr[len(snapshotMagic):])
		return h, rc, nil
	case snapshotMagicV2:
		h.index = binary.BigEndian.Uint64(hdr[len(snapshotMagicV2):])
		var lb [4]byte
		if _, err := io.ReadFull(rc, lb[:]); err != nil {
			return h, nil, fmt.Errorf("read snapshot header: registry length: %w", err)
		}
		size := binary.BigEndian.Uint32(lb[:])
		if size > maxRegistrySize {
			return h, nil, fmt.Errorf("read snapshot header: registry of %d bytes is damaged or too large", size)
		}
		reg := make([]byte, size)
		if _, err := io.ReadFull(rc, reg); err != nil {
			return h, nil, fmt.Errorf("read snapshot header: registry: %w", err)
		}
		if size > 0 {
			if err := json.Unmarshal(reg, &h.registry); err != nil {
				return h, nil, fmt.Errorf("read snapshot header: registry: %w", err)
			}
		}
		return h, rc, nil
	}
	return h, readCloser{io.MultiReader(bytes.NewReader(hdr[:n]), rc), rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
