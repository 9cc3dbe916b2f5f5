package runtime

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
)

// A container started with Spec.Stdin or Spec.TTY gets its input from its shim, which
// reads it from the FIFO root/<id>/input. Whoever attaches (the agent, also after a
// restart) writes frames to it: a type byte, a big-endian uint16 length, the payload.
// Every frame fits in PIPE_BUF and goes in one write, so frames of several attach
// sessions never interleave. The container's output is never sent back this way: it
// goes to its log as any container's does, and attaching follows the log.
const (
	inputFile = "input"

	frameData   byte = 'd' // bytes for the container's stdin
	frameClose  byte = 'c' // close stdin (on a terminal: type the end-of-file character)
	frameResize byte = 'r' // rows, cols as two big-endian uint16

	frameHeader = 3
	maxFrame    = 4096 - frameHeader // PIPE_BUF on Linux
	veof        = 0x04               // ^D, the terminal's default end-of-file character
)

// encodeFrame returns the frames carrying payload of type typ, each at most PIPE_BUF.
func encodeFrame(typ byte, payload []byte) [][]byte {
	var out [][]byte
	for {
		n := min(len(payload), maxFrame)
		f := make([]byte, frameHeader+n)
		f[0] = typ
		binary.BigEndian.PutUint16(f[1:], uint16(n))
		copy(f[frameHeader:], payload[:n])
		out = append(out, f)
		payload = payload[n:]
		if len(payload) == 0 {
			return out
		}
	}
}

// readFrame reads one frame.
func readFrame(r *bufio.Reader) (typ byte, payload []byte, err error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, binary.BigEndian.Uint16(h[1:]))
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return h[0], payload, nil
}

// Input is the attached input of a container's main process.
type Input struct {
	f *os.File
}

// ErrNotAttachable is returned by AttachInput for a container started without Stdin
// or TTY.
var ErrNotAttachable = errors.New("container was started without stdin or tty")

// AttachInput opens the input of running container id, which was started with
// Spec.Stdin or Spec.TTY.
func (r *Runtime) AttachInput(id string) (*Input, error) {
	if !validID.MatchString(id) {
		return nil, fmt.Errorf("attach %s: %w", id, ErrNotFound)
	}
	s, err := readSpec(r.dir(id))
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", id, err)
	}
	if !s.Stdin && !s.TTY {
		return nil, fmt.Errorf("attach %s: %w", id, ErrNotAttachable)
	}
	// Non-blocking: with no shim reading (the container is gone) the open fails
	// (ENXIO) instead of waiting for one.
	f, err := os.OpenFile(filepath.Join(r.dir(id), inputFile), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", id, err)
	}
	return &Input{f: f}, nil
}

func (in *Input) send(typ byte, payload []byte) error {
	for _, f := range encodeFrame(typ, payload) {
		if _, err := in.f.Write(f); err != nil {
			return err
		}
	}
	return nil
}

// Write sends p to the container's stdin (ignored by a container without Stdin).
func (in *Input) Write(p []byte) (int, error) {
	if err := in.send(frameData, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseStdin closes the container's stdin: it reads end-of-file (on a terminal, the
// end-of-file character is typed). Later input is dropped.
func (in *Input) CloseStdin() error { return in.send(frameClose, nil) }

// Resize sets the size of the container's terminal (ignored without TTY).
func (in *Input) Resize(s TermSize) error {
	var b [4]byte
	binary.BigEndian.PutUint16(b[:], s.Rows)
	binary.BigEndian.PutUint16(b[2:], s.Cols)
	return in.send(frameResize, b[:])
}

// Close ends this attach session; the container's stdin stays open.
func (in *Input) Close() error { return in.f.Close() }

// containerIO is the shim's side of a container's standard streams when it has input
// or a terminal: the FIFO it reads input from and, with a terminal, the pty master whose
// output it copies to the log.
type containerIO struct {
	log    *slog.Logger
	input  *os.File
	stdin  *os.File // the write end of the container's stdin pipe (no terminal)
	master *os.File // the pty master (terminal)
	logf   *os.File
	copied chan error

	mu     sync.Mutex
	closed bool
}

// setupIO prepares p's streams for spec s before it runs: the input FIFO, and either a
// console socket (TTY) or a stdin pipe (Stdin). It returns nil for a container with
// neither, whose streams stay the log file alone. afterRun must be called once Run has
// returned without error.
func setupIO(dir string, s Spec, p *libcontainer.Process, logf *os.File, log *slog.Logger) (*containerIO, func() error, error) {
	if !s.Stdin && !s.TTY {
		return nil, func() error { return nil }, nil
	}
	path := filepath.Join(dir, inputFile)
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, nil, fmt.Errorf("input fifo: %w", err)
	}
	// Read-write, so that the shim never reads end-of-file when attach sessions end.
	input, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("input fifo: %w", err)
	}
	// Without Stdin the input is closed from the start: only resizes apply.
	cio := &containerIO{log: log, input: input, closed: !s.Stdin}
	if !s.TTY {
		pr, pw, err := os.Pipe()
		if err != nil {
			input.Close()
			return nil, nil, err
		}
		cio.stdin = pw
		p.Stdin = pr
		return cio, func() error { return pr.Close() }, nil
	}
	parent, child, err := consoleSocketPair()
	if err != nil {
		input.Close()
		return nil, nil, err
	}
	p.Stdout, p.Stderr = nil, nil
	p.ConsoleSocket = child
	type console struct {
		f   *os.File
		err error
	}
	consoleC := make(chan console, 1)
	go func() {
		f, err := recvConsole(parent)
		consoleC <- console{f, err}
	}()
	logf2, err := os.OpenFile(logf.Name(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		input.Close()
		parent.Close()
		child.Close()
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	cio.logf = logf2
	afterRun := func() error {
		child.Close() // init has its copy; with it gone the receive fails
		defer parent.Close()
		var cons console
		select {
		case cons = <-consoleC:
		case <-time.After(exitGrace):
			return errors.New("the container's console was never received")
		}
		if cons.err != nil {
			return cons.err
		}
		cio.master = cons.f
		cio.copied = make(chan error, 1)
		go func() { cio.copied <- copyConsole(cio.logf, cio.master) }()
		return nil
	}
	return cio, afterRun, nil
}

// serve applies the frames written to the input FIFO until the FIFO is closed.
func (c *containerIO) serve() {
	r := bufio.NewReader(c.input)
	for {
		typ, payload, err := readFrame(r)
		if err != nil {
			return
		}
		if err := c.apply(typ, payload); err != nil {
			c.log.Debug("container input", "err", err)
		}
	}
}

func (c *containerIO) apply(typ byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed && typ != frameResize {
		return nil
	}
	switch typ {
	case frameData:
		if c.master != nil {
			_, err := c.master.Write(payload)
			return err
		}
		if c.stdin != nil {
			_, err := c.stdin.Write(payload)
			return err
		}
	case frameClose:
		c.closed = true
		if c.master != nil {
			_, err := c.master.Write([]byte{veof})
			return err
		}
		if c.stdin != nil {
			return c.stdin.Close()
		}
	case frameResize:
		if c.master != nil && len(payload) == 4 {
			return setWinsize(c.master, TermSize{Rows: binary.BigEndian.Uint16(payload), Cols: binary.BigEndian.Uint16(payload[2:])})
		}
	}
	return nil
}

// finish is called once the container's init has exited: the terminal's last output
// reaches the log before exit.json is written.
func (c *containerIO) finish() {
	if c.master != nil {
		drainConsole(c.master, c.copied, time.Second)
		c.master.Close()
	}
	if c.logf != nil {
		c.logf.Close()
	}
	c.input.Close()
	if c.stdin != nil {
		c.stdin.Close()
	}
}
