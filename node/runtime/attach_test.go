package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Input frames survive the trip through the FIFO unchanged, split at PIPE_BUF.
func TestInputFrames(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 2*maxFrame+10)
	for _, tc := range []struct {
		name    string
		typ     byte
		payload []byte
		frames  int
	}{
		{"empty close", frameClose, nil, 1},
		{"resize", frameResize, []byte{0, 30, 0, 100}, 1},
		{"small data", frameData, []byte("echo hi\n"), 1},
		{"exactly one frame", frameData, big[:maxFrame], 1},
		{"split data", frameData, big, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := encodeFrame(tc.typ, tc.payload)
			if len(frames) != tc.frames {
				t.Fatalf("%d frames, want %d", len(frames), tc.frames)
			}
			var all []byte
			for _, f := range frames {
				if len(f) > 4096 {
					t.Fatalf("frame of %d bytes: larger than PIPE_BUF", len(f))
				}
				all = append(all, f...)
			}
			r := bufio.NewReader(bytes.NewReader(all))
			var got []byte
			for range frames {
				typ, p, err := readFrame(r)
				if err != nil || typ != tc.typ {
					t.Fatalf("readFrame = %q, %v", typ, err)
				}
				got = append(got, p...)
			}
			if !bytes.Equal(got, tc.payload) {
				t.Fatalf("payload of %d bytes, want %d", len(got), len(tc.payload))
			}
			if _, _, err := readFrame(r); !errors.Is(err, io.EOF) {
				t.Fatalf("after the frames: %v, want EOF", err)
			}
		})
	}
}

func TestAttachTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh")
	s.Stdin, s.TTY = true, true
	f.start(t, s)

	in, err := f.rt.AttachInput(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Frames apply in order: the resize before the command that reports it.
	if err := in.Resize(TermSize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "stty size; tty\n")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(readLog(t, s), "30 100\r\n/dev/pts/") })
	in.Close()

	// A second session, as after an agent restart: the shell still reads its terminal.
	rt2, err := New(f.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err = rt2.AttachInput(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	io.WriteString(in, "exit 3\n")
	if st := f.waitExited(t, s.ID); st.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3; log %q", st.ExitCode, readLog(t, s))
	}
	if _, err := f.rt.AttachInput(s.ID); err == nil {
		t.Fatal("attach to an exited container: want an error")
	}
}

func TestAttachStdin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "read x; echo got $x; cat; echo eof")
	s.Stdin = true
	f.start(t, s)

	in, err := f.rt.AttachInput(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	io.WriteString(in, "hi\nrest\n")
	waitFor(t, 10*time.Second, func() bool { return readLog(t, s) == "got hi\nrest\n" })
	if err := in.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if st := f.waitExited(t, s.ID); st.ExitCode != 0 || readLog(t, s) != "got hi\nrest\neof\n" {
		t.Fatalf("exit code %d, log %q", st.ExitCode, readLog(t, s))
	}

	plain := f.spec("sleep", "600")
	f.start(t, plain)
	if _, err := f.rt.AttachInput(plain.ID); !errors.Is(err, ErrNotAttachable) {
		t.Fatalf("attach to a container without stdin: %v, want ErrNotAttachable", err)
	}
}
