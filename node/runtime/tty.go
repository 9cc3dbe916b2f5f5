package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Rows, Cols uint16
}

// Terminal is how an exec'd process gets a terminal: its initial size (zero leaves the
// kernel's 0x0) and the resizes to apply while it runs. Resize may be nil.
type Terminal struct {
	Size   TermSize
	Resize <-chan TermSize
}

// setWinsize sets the size of the terminal open as f (TIOCSWINSZ): the kernel sends
// SIGWINCH to the terminal's foreground process group.
func setWinsize(f *os.File, s TermSize) error {
	if s.Rows == 0 || s.Cols == 0 {
		return nil
	}
	// Through the raw descriptor: File.Fd would switch it to blocking mode under the
	// goroutine copying its output.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: s.Rows, Col: s.Cols})
	}); err != nil {
		return err
	}
	return ierr
}

// consoleSocketPair returns the two ends of the socket over which libcontainer's init
// sends the master of the pty it allocates inside the container (Process.ConsoleSocket).
func consoleSocketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// recvConsole receives the pty master that libcontainer's init sends over socket (one
// SCM_RIGHTS message). The master is returned non-blocking, so that reads can be given
// a deadline.
func recvConsole(socket *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(socket.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive console: no file descriptor (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive console: want one file descriptor (%v)", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("receive console: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// copyConsole copies what the processes on a pty write (read from its master) to out
// until the last of them has closed the pty (EIO) or the master is closed.
func copyConsole(out io.Writer, master *os.File) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			if errors.Is(err, unix.EIO) || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
	}
}

// drainConsole waits, after the process on a pty has ended, for copyConsole (done) to
// send the rest of its output; a child left holding the pty open gets at most grace
// before the copy is cut.
func drainConsole(master *os.File, done <-chan error, grace time.Duration) {
	select {
	case <-done:
	case <-time.After(grace):
		_ = master.SetReadDeadline(time.Now())
		<-done
	}
}
