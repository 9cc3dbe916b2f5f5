package chaos

// The register the compare-and-set histories are checked against, and its table tests:
// the model accepts what a linearizable ConfigMap allows and refuses the rest, and an
// operation without a definite outcome counts as possibly applied (open-ended).

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// casInput is one operation on one ConfigMap used as a register. A compare-and-set reads
// the object and then updates it with the resourceVersion it read; values are unique, so
// "the resourceVersion read is current" is "the value read is current".
type casInput struct {
	Key    string
	Read   bool
	Expect string // cas: the value read, whose resourceVersion the update carried
	Value  string // cas: the new value
}

// casOutput is what came back.
type casOutput struct {
	Unknown bool   // cas: no definite answer (timeout, Unavailable after sending)
	OK      bool   // cas: applied; false and known: Aborted (the version was not current)
	Value   string // read
	RV      uint64 // read: the version read; cas OK: the new version
}

// casState is the register: its value and resourceVersion. After a write whose outcome
// was unknown the new resourceVersion is not known, only that it is above RV.
type casState struct {
	Value string
	RV    uint64
	Exact bool
}

// never is the return time of an operation whose outcome is unknown: it may take effect
// at any point after its call.
const never = math.MaxInt64

func casModel(init casState) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(casState), input.(casInput), output.(casOutput)
			newer := func(rv uint64) bool { return rv > s.RV }
			switch {
			case in.Read:
				if out.Value != s.Value {
					return false, s
				}
				if s.Exact && out.RV != s.RV || !s.Exact && !newer(out.RV) {
					return false, s
				}
				return true, casState{Value: out.Value, RV: out.RV, Exact: true}
			case out.Unknown:
				if s.Value == in.Expect {
					return true, casState{Value: in.Value, RV: s.RV}
				}
				return true, s
			case out.OK:
				if s.Value != in.Expect || !newer(out.RV) {
					return false, s
				}
				return true, casState{Value: in.Value, RV: out.RV, Exact: true}
			default: // Aborted
				return s.Value != in.Expect, s
			}
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(casInput), output.(casOutput)
			switch {
			case in.Read:
				return fmt.Sprintf("read -> %s@%d", out.Value, out.RV)
			case out.Unknown:
				return fmt.Sprintf("cas %s->%s ?", in.Expect, in.Value)
			case out.OK:
				return fmt.Sprintf("cas %s->%s ok@%d", in.Expect, in.Value, out.RV)
			}
			return fmt.Sprintf("cas %s->%s aborted", in.Expect, in.Value)
		},
		DescribeState: func(state any) string {
			s := state.(casState)
			return fmt.Sprintf("%s@%d exact=%v", s.Value, s.RV, s.Exact)
		},
	}
}

func TestCASModel(t *testing.T) {
	t.Parallel()
	init := casState{Value: "init", RV: 5, Exact: true}
	read := func(c, call, ret int64, v string, rv uint64) porcupine.Operation {
		return porcupine.Operation{ClientId: int(c), Input: casInput{Read: true}, Output: casOutput{Value: v, RV: rv}, Call: call, Return: ret}
	}
	cas := func(c, call, ret int64, from, to string, out casOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: int(c), Input: casInput{Expect: from, Value: to}, Output: out, Call: call, Return: ret}
	}
	ok := func(rv uint64) casOutput { return casOutput{OK: true, RV: rv} }
	aborted, unknown := casOutput{}, casOutput{Unknown: true}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sequential cas then read", []porcupine.Operation{
			read(0, 0, 1, "init", 5), cas(0, 2, 3, "init", "a", ok(7)), read(1, 4, 5, "a", 7),
		}, porcupine.Ok},
		{"two cas from one read: only one may win", []porcupine.Operation{
			read(0, 0, 1, "init", 5), read(1, 0, 1, "init", 5),
			cas(0, 2, 5, "init", "a", ok(7)), cas(1, 2, 5, "init", "b", ok(8)),
		}, porcupine.Illegal},
		{"the loser is aborted", []porcupine.Operation{
			cas(0, 2, 5, "init", "a", ok(7)), cas(1, 2, 5, "init", "b", aborted),
		}, porcupine.Ok},
		{"aborted although current", []porcupine.Operation{
			cas(0, 0, 1, "init", "a", aborted),
		}, porcupine.Illegal},
		{"stale read after a completed write", []porcupine.Operation{
			cas(0, 0, 1, "init", "a", ok(7)), read(1, 2, 3, "init", 5),
		}, porcupine.Illegal},
		{"resourceVersion going back", []porcupine.Operation{
			cas(0, 0, 1, "init", "a", ok(4)),
		}, porcupine.Illegal},
		{"read of the right value at another version", []porcupine.Operation{
			cas(0, 0, 1, "init", "a", ok(7)), read(1, 2, 3, "a", 9),
		}, porcupine.Illegal},
		{"unknown write seen later", []porcupine.Operation{
			cas(0, 0, never, "init", "a", unknown), read(1, 10, 11, "a", 9), cas(1, 12, 13, "a", "b", ok(10)),
		}, porcupine.Ok},
		{"unknown write never applied", []porcupine.Operation{
			cas(0, 0, never, "init", "a", unknown), read(1, 10, 11, "init", 5), cas(1, 12, 13, "init", "b", ok(10)),
		}, porcupine.Ok},
		{"unknown write applied late, after a newer one it conflicts with", []porcupine.Operation{
			cas(0, 0, never, "init", "a", unknown), cas(1, 12, 13, "init", "b", ok(10)), read(1, 14, 15, "a", 11),
		}, porcupine.Illegal},
		{"unknown write cannot take effect before its call", []porcupine.Operation{
			read(1, 0, 1, "a", 9), cas(0, 5, never, "init", "a", unknown),
		}, porcupine.Illegal},
		{"a value nobody wrote", []porcupine.Operation{
			read(1, 0, 1, "z", 9),
		}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(casModel(init), tc.ops, 10*time.Second); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// explainIllegal describes where a history stops being linearizable: the state after the
// longest linearizable prefix porcupine found, and the operations that could come next,
// none of which fits.
func explainIllegal(model porcupine.Model, ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var longest []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	state := model.Init()
	done := map[porcupine.Operation]int{}
	for _, op := range longest {
		_, state = model.Step(state, op.Input, op.Output)
		done[op]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "after %d operations the register is %s; none of these fits next:", len(longest), model.DescribeState(state))
	var pending []porcupine.Operation
	for _, op := range ops {
		if done[op] > 0 {
			done[op]--
			continue
		}
		pending = append(pending, op)
	}
	slices.SortFunc(pending, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	for _, op := range pending[:min(len(pending), 6)] {
		ret := "open"
		if op.Return != never {
			ret = fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
		}
		fmt.Fprintf(&b, "\n  client %d [%.3fs, %s] %s", op.ClientId, float64(op.Call)/1e9, ret, model.DescribeOperation(op.Input, op.Output))
	}
	return b.String()
}
