package node

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// The messages after an exec or attach session's first reach stdin, its end and the
// terminal's size in order, and stdin ends exactly once however the client leaves.
func TestPumpInput(t *testing.T) {
	t.Parallel()
	size := func(r, c uint32) *orchv1.TerminalSize { return &orchv1.TerminalSize{Rows: r, Cols: c} }
	for _, tc := range []struct {
		name  string
		first *orchv1.PodExecRequest
		msgs  []*orchv1.PodExecRequest
		want  []string
	}{
		{
			name:  "stdin then end of stream",
			first: &orchv1.PodExecRequest{Stdin: true, StdinData: []byte("a")},
			msgs:  []*orchv1.PodExecRequest{{StdinData: []byte("b")}},
			want:  []string{"in a", "in b", "close"},
		},
		{
			name:  "close in the first message",
			first: &orchv1.PodExecRequest{StdinClose: true},
			msgs:  []*orchv1.PodExecRequest{{StdinData: []byte("late")}},
			want:  []string{"close"},
		},
		{
			name:  "resizes after stdin closed",
			first: &orchv1.PodExecRequest{Tty: true, TerminalSize: size(24, 80)},
			msgs: []*orchv1.PodExecRequest{
				{StdinData: []byte("ls\r")},
				{TerminalSize: size(30, 100)},
				{StdinClose: true},
				{TerminalSize: size(40, 120)},
			},
			want: []string{"in ls\r", "resize 30x100", "close", "resize 40x120"},
		},
		{
			name:  "a size beyond a terminal's is clamped",
			first: &orchv1.PodExecRequest{},
			msgs:  []*orchv1.PodExecRequest{{TerminalSize: size(math.MaxUint32, 70000)}},
			want:  []string{"resize 65535x65535", "close"},
		},
		{
			name:  "resize and data in one message",
			first: &orchv1.PodExecRequest{},
			msgs:  []*orchv1.PodExecRequest{{TerminalSize: size(10, 20), StdinData: []byte("x")}},
			want:  []string{"resize 10x20", "in x", "close"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			msgs := tc.msgs
			recv := func() (*orchv1.PodExecRequest, error) {
				if len(msgs) == 0 {
					return nil, io.EOF
				}
				m := msgs[0]
				msgs = msgs[1:]
				return m, nil
			}
			pumpInput(tc.first, recv, sessionInput{
				stdin:  func(b []byte) error { got = append(got, "in "+string(b)); return nil },
				close:  func() { got = append(got, "close") },
				resize: func(s runtime.TermSize) { got = append(got, fmtSize(s)) },
			})
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func fmtSize(s runtime.TermSize) string {
	return fmt.Sprintf("resize %dx%d", s.Rows, s.Cols)
}

// A process that stops reading (stdin fails) gets no more input and no close.
func TestPumpInputStdinFails(t *testing.T) {
	t.Parallel()
	var got []string
	msgs := []*orchv1.PodExecRequest{{StdinData: []byte("b")}, {StdinClose: true}}
	recv := func() (*orchv1.PodExecRequest, error) {
		if len(msgs) == 0 {
			return nil, io.EOF
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	}
	pumpInput(&orchv1.PodExecRequest{StdinData: []byte("a")}, recv, sessionInput{
		stdin: func(b []byte) error { got = append(got, string(b)); return errors.New("closed pipe") },
		close: func() { got = append(got, "close") },
	})
	if !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("got %q, want only the first write", got)
	}
}
