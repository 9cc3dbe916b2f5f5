package e2e

// mountPropagation as Kubernetes documents it, on a real worker: a hostPath volume
// mounted HostToContainer sees a mount the host makes beneath it after the container
// started; mounted with the default (None) it does not.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMountPropagation(t *testing.T) {
	e := startWorkers(t, 1)
	dir, err := os.MkdirTemp("", "orch-test-prop-")
	if err != nil {
		t.Fatal(err)
	}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	// The volume's source is a shared mount, as propagation needs on the host.
	sh("mount", "--bind", dir, dir)
	sh("mount", "--make-rshared", dir)
	t.Cleanup(func() {
		exec.Command("umount", "-R", dir).Run()
		os.RemoveAll(dir)
	})
	e.apply(t, strings.ReplaceAll(`
apiVersion: v1
kind: Pod
metadata:
  name: propagation
spec:
  volumes:
  - name: host
    hostPath: {path: DIR}
  containers:
  - name: slave
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: host, mountPath: /host, mountPropagation: HostToContainer}
  - name: private
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: host, mountPath: /host}
`, "DIR", dir))
	e.waitFor(t, 60*time.Second, "pod Running", func() bool { return e.phase(t, "propagation") == "Running" })

	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	sh("mount", "-t", "tmpfs", "orch-test-prop", sub)
	if err := os.WriteFile(filepath.Join(sub, "marker"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := orchctl(t, e.c, e.m, "exec", "propagation", "-c", "slave", "--", "cat", "/host/sub/marker"); out != "from the host\n" {
		t.Errorf("HostToContainer: the host's later mount reads %q in the container", out)
	}
	out, _, err := e.c.Orchctl(e.m, "", "exec", "propagation", "-c", "private", "--", "cat", "/host/sub/marker")
	if err == nil {
		t.Errorf("mountPropagation None: the host's later mount is visible in the container (%q)", out)
	}
}
