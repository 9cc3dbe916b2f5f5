package chaos

// The checks of a history's writes and watch streams, and their table tests: a stream
// that misses, repeats or reorders a change is a gap; an acknowledged write missing from
// the changes or from the final state is a lost ack; a change nobody asked for, or a
// final state the changes do not explain, is a violation.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// event is one change a watcher saw.
type event struct {
	Type  string // ADDED, MODIFIED, DELETED
	Name  string
	RV    uint64
	Value string // data["v"]
}

type eventKey struct {
	RV   uint64
	Name string
}

func (e event) key() eventKey { return eventKey{e.RV, e.Name} }

func (e event) String() string { return fmt.Sprintf("%s %s@%d=%q", e.Type, e.Name, e.RV, e.Value) }

func compareKeys(a, b eventKey) int {
	return cmp.Or(cmp.Compare(a.RV, b.RV), cmp.Compare(a.Name, b.Name))
}

// objState is an object as a list shows it.
type objState struct {
	RV    uint64
	Value string
}

type writeKind string

const (
	writeCreate writeKind = "create"
	writeUpdate writeKind = "update"
	writeDelete writeKind = "delete"
)

type outcome string

const (
	acked   outcome = "acked"   // a definite success
	unknown outcome = "unknown" // no definite answer: may or may not have been applied
	refused outcome = "refused" // a definite failure: not applied
)

// write is one create, update or delete a client sent.
type write struct {
	Kind    writeKind
	Name    string
	Value   string // create, update
	RV      uint64 // acked create or update: the resourceVersion written
	Outcome outcome
}

func (w write) String() string {
	return fmt.Sprintf("%s %s=%q (%s, rv %d)", w.Kind, w.Name, w.Value, w.Outcome, w.RV)
}

// findings of one history. Problems lists every one in words.
type findings struct {
	LostAcks, WatchGaps, Other, CheckerTimeouts int
	Problems                                    []string
}

func (f *findings) add(counter *int, format string, args ...any) {
	*counter++
	f.Problems = append(f.Problems, fmt.Sprintf(format, args...))
}

// Violations counts everything wrong except checker timeouts (which fail a run too).
func (f *findings) Violations() int { return f.LostAcks + f.WatchGaps + f.Other }

// watchStream is what one watcher saw, and the resourceVersion it got to.
type watchStream struct {
	Events []event
	Pos    uint64
}

// checkStreams checks the watch streams of one selection, all started at the same
// resourceVersion (after initial) and read until the last write (a stream that stalled,
// up to where it got), against the writes sent and the final state. The union of the streams is the sequence of committed changes: each
// stream must be exactly that sequence, the sequence must hold every acknowledged write
// and nothing nobody sent, and replayed over initial it must give final.
func checkStreams(f *findings, initial map[string]objState, streams map[string]watchStream, writes []write, final map[string]objState) []event {
	union := map[eventKey]event{}
	for _, name := range slices.Sorted(maps.Keys(streams)) {
		for _, e := range streams[name].Events {
			if prev, ok := union[e.key()]; ok && prev != e {
				f.add(&f.Other, "watchers disagree on the change at %d: %v and %v (%s)", e.RV, prev, e, name)
				continue
			}
			union[e.key()] = e
		}
	}
	changes := slices.SortedFunc(maps.Values(union), func(a, b event) int { return compareKeys(a.key(), b.key()) })

	for _, name := range slices.Sorted(maps.Keys(streams)) {
		s := streams[name].Events
		seen := map[eventKey]bool{}
		for i, e := range s {
			switch {
			case seen[e.key()]:
				f.add(&f.WatchGaps, "watcher %s: %v delivered twice", name, e)
			case i > 0 && compareKeys(e.key(), s[i-1].key()) < 0:
				f.add(&f.WatchGaps, "watcher %s: %v delivered after %v", name, e, s[i-1])
			}
			seen[e.key()] = true
		}
		var missing []event
		for _, e := range changes {
			if !seen[e.key()] && e.RV <= streams[name].Pos {
				missing = append(missing, e)
			}
		}
		for i, e := range missing {
			if i == 5 {
				f.Problems = append(f.Problems, fmt.Sprintf("watcher %s: %d more changes missing", name, len(missing)-i))
				f.WatchGaps += len(missing) - i
				break
			}
			f.add(&f.WatchGaps, "watcher %s: missed %v", name, e)
		}
	}

	// Every change was sent by someone (and not refused), and the changes replay into the
	// final state.
	sent := map[string]outcome{} // "name=value" of creates and updates, "name" of deletes
	for _, w := range writes {
		k := w.Name
		if w.Kind != writeDelete {
			k += "=" + w.Value
		}
		if sent[k] != acked && sent[k] != unknown {
			sent[k] = w.Outcome
		}
	}
	state := maps.Clone(initial)
	for _, e := range changes {
		k := e.Name
		if e.Type != "DELETED" {
			k += "=" + e.Value
		}
		switch o, ok := sent[k]; {
		case !ok:
			f.add(&f.Other, "change nobody sent: %v", e)
		case o == refused:
			f.add(&f.Other, "change applied although refused: %v", e)
		}
		cur, exists := state[e.Name]
		switch {
		case e.Type == "ADDED" && exists, e.Type != "ADDED" && !exists:
			f.add(&f.Other, "%v: object exists=%v before it", e, exists)
		case exists && e.RV <= cur.RV:
			f.add(&f.Other, "%v: resourceVersion not above %d", e, cur.RV)
		}
		if e.Type == "DELETED" {
			delete(state, e.Name)
		} else {
			state[e.Name] = objState{RV: e.RV, Value: e.Value}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(state)) {
		if got, ok := final[name]; !ok || got != state[name] {
			f.add(&f.Other, "%s: the changes end at %+v, the final list has %+v (present %v)", name, state[name], got, ok)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(final)) {
		if _, ok := state[name]; !ok {
			f.add(&f.Other, "%s: in the final list at %+v, deleted or never created by the changes", name, final[name])
		}
	}

	// No acknowledged write is lost.
	maybeDeleted := map[string]bool{}
	deletes := map[string]bool{}
	for _, w := range writes {
		if w.Kind == writeDelete && w.Outcome != refused {
			maybeDeleted[w.Name] = true
		}
	}
	for _, e := range changes {
		if e.Type == "DELETED" {
			deletes[e.Name] = true
		}
	}
	for _, w := range writes {
		if w.Outcome != acked {
			continue
		}
		switch w.Kind {
		case writeCreate, writeUpdate:
			typ := map[writeKind]string{writeCreate: "ADDED", writeUpdate: "MODIFIED"}[w.Kind]
			if e, ok := union[eventKey{w.RV, w.Name}]; !ok || e.Type != typ || e.Value != w.Value {
				f.add(&f.LostAcks, "acknowledged %v is not among the changes (found %v)", w, e)
			} else if _, ok := final[w.Name]; w.Kind == writeCreate && !ok && !maybeDeleted[w.Name] {
				f.add(&f.LostAcks, "acknowledged %v is not in the final list and was never deleted", w)
			}
		case writeDelete:
			if !deletes[w.Name] {
				f.add(&f.LostAcks, "acknowledged %v is not among the changes", w)
			} else if _, ok := final[w.Name]; ok {
				f.add(&f.LostAcks, "acknowledged %v, yet it is in the final list", w)
			}
		}
	}
	return changes
}

func TestCheckStreams(t *testing.T) {
	t.Parallel()
	initial := map[string]objState{"reg": {RV: 5, Value: "init"}}
	a := event{"ADDED", "u1", 10, "u1"}
	m := event{"MODIFIED", "reg", 11, "x"}
	d := event{"DELETED", "u1", 12, "u1"}
	writes := []write{
		{Kind: writeCreate, Name: "u1", Value: "u1", RV: 10, Outcome: acked},
		{Kind: writeUpdate, Name: "reg", Value: "x", RV: 11, Outcome: acked},
		{Kind: writeDelete, Name: "u1", Outcome: acked},
	}
	final := map[string]objState{"reg": {RV: 11, Value: "x"}}
	cases := []struct {
		name                      string
		streams                   map[string][]event
		writes                    []write
		final                     map[string]objState
		lost, gaps, other, events int
	}{
		{name: "all watchers saw everything", streams: map[string][]event{"w0": {a, m, d}, "w1": {a, m, d}}, events: 3},
		{name: "a stalled watcher is checked up to where it got", streams: map[string][]event{"w0": {a, m, d}, "stalled": {a}}, events: 3},
		{name: "a watcher missed a change", streams: map[string][]event{"w0": {a, m, d}, "w1": {a, d}}, gaps: 1, events: 3},
		{name: "a watcher got a change twice", streams: map[string][]event{"w0": {a, m, d}, "w1": {a, m, m, d}}, gaps: 1, events: 3},
		{name: "a watcher got changes out of order", streams: map[string][]event{"w0": {a, m, d}, "w1": {a, d, m}}, gaps: 1, events: 3},
		{name: "no watcher saw an acknowledged update", streams: map[string][]event{"w0": {a, d}}, lost: 1, other: 1, events: 2},
		{name: "watchers disagree", streams: map[string][]event{"w0": {a, m, d}, "w1": {a, {"MODIFIED", "reg", 11, "y"}, d}}, other: 1, events: 3},
		{name: "an acknowledged create lost from the final state", streams: map[string][]event{"w0": {a, m}},
			writes: writes[:2], final: map[string]objState{"reg": {RV: 11, Value: "x"}}, lost: 1, other: 1, events: 2},
		{name: "an acknowledged delete undone", streams: map[string][]event{"w0": {a, m, d}},
			final: map[string]objState{"reg": {RV: 11, Value: "x"}, "u1": {RV: 10, Value: "u1"}}, lost: 1, other: 1, events: 3},
		{name: "a refused write applied", streams: map[string][]event{"w0": {a, m, d}},
			writes: []write{writes[0], {Kind: writeUpdate, Name: "reg", Value: "x", Outcome: refused}, writes[2]}, other: 1, events: 3},
		{name: "unknown writes may or may not appear", streams: map[string][]event{"w0": {m}},
			writes: []write{{Kind: writeCreate, Name: "u1", Value: "u1", Outcome: unknown}, writes[1]}, events: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, fin := writes, final
			if tc.writes != nil {
				w = tc.writes
			}
			if tc.final != nil {
				fin = tc.final
			}
			var f findings
			streams := map[string]watchStream{}
			for name, evs := range tc.streams {
				streams[name] = watchStream{Events: evs, Pos: 100}
				if name == "stalled" {
					streams[name] = watchStream{Events: evs, Pos: evs[len(evs)-1].RV}
				}
			}
			changes := checkStreams(&f, initial, streams, w, fin)
			if f.LostAcks != tc.lost || f.WatchGaps != tc.gaps || f.Other != tc.other || len(changes) != tc.events {
				t.Errorf("lost %d gaps %d other %d changes %d, want %d %d %d %d:\n%v", f.LostAcks, f.WatchGaps, f.Other, len(changes),
					tc.lost, tc.gaps, tc.other, tc.events, f.Problems)
			}
		})
	}
}
