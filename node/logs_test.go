package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRotateLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(strings.Repeat("a", 100))
	if rotated, err := rotateLog(path, 200); rotated || err != nil {
		t.Fatalf("rotated a log under the limit: %v %v", rotated, err)
	}
	f.WriteString(strings.Repeat("b", 150))
	if rotated, err := rotateLog(path, 200); !rotated || err != nil {
		t.Fatalf("did not rotate a log over the limit: %v %v", rotated, err)
	}
	// The writer keeps its descriptor: with O_APPEND its next write starts the new log.
	f.WriteString("after")
	if b, _ := os.ReadFile(path); string(b) != "after" {
		t.Errorf("current log %q, want only what came after the rotation", b)
	}
	if b, _ := os.ReadFile(path + ".1"); len(b) != 250 {
		t.Errorf("rotated log has %d bytes, want 250", len(b))
	}
}

func TestContainerName(t *testing.T) {
	id := containerID("0f8e2c56-6f0b-4c1d-9a67-0123456789ab", "my-web-app", 12)
	if got := containerName(id); got != "my-web-app" {
		t.Errorf("containerName(%q) = %q", id, got)
	}
}

// Following a log loses nothing across repeated rotations: what was written before a
// rotation and not yet read comes from the rotated copy, then the log from its start.
func TestFollowLogAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var mu sync.Mutex
	var got strings.Builder
	var exited atomic.Bool
	var rot logRotations
	done := make(chan error, 1)
	go func() {
		done <- followLog(context.Background(), in, path, &rot, func(b []byte) error {
			mu.Lock()
			got.Write(b)
			mu.Unlock()
			return nil
		}, exited.Load)
	}()
	received := func() string { mu.Lock(); defer mu.Unlock(); return got.String() }
	var want strings.Builder
	write := func(s string) { out.WriteString(s); want.WriteString(s) }
	for round := range 5 {
		write(fmt.Sprintf("round %d before\n", round))
		deadline := time.Now().Add(5 * time.Second)
		for received() != want.String() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: follower has %q, want %q", round, received(), want.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		write(fmt.Sprintf("round %d unread at rotation\n", round))
		if rotated, err := rot.rotate(path, 1); !rotated || err != nil {
			t.Fatalf("rotate: %v %v", rotated, err)
		}
		// The log grows past the follower's offset again before it looks.
		write(fmt.Sprintf("round %d after rotation, a line longer than the one before it\n", round))
	}
	exited.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if received() != want.String() {
		t.Errorf("followed:\n%s\nwant:\n%s", received(), want.String())
	}
}
