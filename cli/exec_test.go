package cli

import (
	"testing"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// A session gets a terminal only as kubectl gives one: -i -t with a terminal on stdin.
func TestUseTTY(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		stdin, tty, isTerminal bool
		use, warn              bool
	}{
		{"neither", false, false, true, false, false},
		{"-i", true, false, true, false, false},
		{"-t alone is dropped silently", false, true, true, false, false},
		{"-it on a terminal", true, true, true, true, false},
		{"-it on a pipe warns", true, true, false, false, true},
		{"-i on a pipe", true, false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			use, warn := useTTY(tc.stdin, tc.tty, tc.isTerminal)
			if use != tc.use || warn != tc.warn {
				t.Fatalf("useTTY(%v, %v, %v) = %v, %v; want %v, %v", tc.stdin, tc.tty, tc.isTerminal, use, warn, tc.use, tc.warn)
			}
		})
	}
}

func TestAttachContainer(t *testing.T) {
	t.Parallel()
	pod := &orchv1.Pod{
		Metadata: &orchv1.ObjectMeta{Name: "p"},
		Spec: &orchv1.PodSpec{
			InitContainers: []*orchv1.Container{{Name: "sidecar"}},
			Containers:     []*orchv1.Container{{Name: "main"}, {Name: "other"}},
		},
	}
	for _, tc := range []struct {
		name, want string
		err        bool
	}{
		{"", "main", false},
		{"other", "other", false},
		{"sidecar", "sidecar", false},
		{"missing", "", true},
	} {
		c, err := attachContainer(pod, tc.name)
		if (err != nil) != tc.err || (err == nil && c.GetName() != tc.want) {
			t.Errorf("attachContainer(%q) = %v, %v; want %q (error %v)", tc.name, c.GetName(), err, tc.want, tc.err)
		}
	}
	if _, err := attachContainer(&orchv1.Pod{Spec: &orchv1.PodSpec{}}, ""); err == nil {
		t.Error("a pod without containers: want an error")
	}
}

// The local terminal's size is sent only when there is a terminal to measure.
func TestTerminalSizeWithoutTerminal(t *testing.T) {
	t.Parallel()
	e := &env{}
	if sz := e.terminalSize(); sz != nil {
		t.Fatalf("terminalSize without a terminal = %v, want nil", sz)
	}
}
