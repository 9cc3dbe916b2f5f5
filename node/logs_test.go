package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
