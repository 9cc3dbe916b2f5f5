// These tests run real containers and read back, from inside, what the security
// settings did: groups, capabilities, no_new_privs, the seccomp mode and what it blocks,
// sysctls, and exec'd processes getting the same.
package runtime

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// runOutput runs s to completion and returns its log and exit code.
func (f *fixture) runOutput(t *testing.T, s Spec) (string, int) {
	t.Helper()
	f.start(t, s)
	st := f.waitExited(t, s.ID)
	return readLog(t, s), st.ExitCode
}

func statusField(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestSecurityInContainers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seccompOK, _ := SeccompSupported()
	status := "cat /proc/self/status; id; unshare -U true && echo UNSHARE-OK || echo UNSHARE-FAILED"

	t.Run("defaults", func(t *testing.T) {
		out, _ := f.runOutput(t, f.spec("sh", "-c", status))
		if statusField(out, "NoNewPrivs") != "0" || statusField(out, "CapEff") != "00000000a80425fb" || statusField(out, "Seccomp") != "0" {
			t.Errorf("defaults:\n%s", out)
		}
		// unshare with CAP_SYS_ADMIN missing fails anyway; the point is it ran.
		if !strings.Contains(out, "UNSHARE-") {
			t.Errorf("no unshare result:\n%s", out)
		}
	})

	t.Run("user, groups, drop ALL, no_new_privs", func(t *testing.T) {
		s := f.spec("sh", "-c", status)
		s.UID, s.GID, s.AdditionalGIDs = 1000, 3000, []uint32{3000, 2000, 4000}
		s.CapDrop, s.NoNewPrivileges = []string{"ALL"}, true
		out, _ := f.runOutput(t, s)
		if !strings.Contains(out, "uid=1000 gid=3000 groups=2000,3000,4000") && !strings.Contains(out, "uid=1000 gid=3000 groups=3000,2000,4000") {
			t.Errorf("id:\n%s", out)
		}
		for k, want := range map[string]string{"NoNewPrivs": "1", "CapEff": "0000000000000000", "CapBnd": "0000000000000000", "CapPrm": "0000000000000000"} {
			if got := statusField(out, k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("root with drop ALL add one", func(t *testing.T) {
		s := f.spec("sh", "-c", status)
		s.CapDrop, s.CapAdd = []string{"all"}, []string{"net_bind_service"}
		out, _ := f.runOutput(t, s)
		if got := statusField(out, "CapEff"); got != "0000000000000400" {
			t.Errorf("CapEff = %q, want only CAP_NET_BIND_SERVICE", got)
		}
	})

	t.Run("privileged", func(t *testing.T) {
		s := f.spec("sh", "-c", status+"; ls /dev | wc -l")
		s.Privileged, s.Seccomp = true, SeccompRuntimeDefault
		out, _ := f.runOutput(t, s)
		var mask uint64
		for i, c := range knownCaps {
			if slices.Contains(allCaps(), c) {
				mask |= 1 << i
			}
		}
		full := fmt.Sprintf("%016x", mask) // every capability the runtime has
		if statusField(out, "Seccomp") != "0" || !strings.Contains(out, "UNSHARE-OK") || statusField(out, "CapEff") != full {
			t.Errorf("privileged:\n%s", out)
		}
	})

	t.Run("sysctl", func(t *testing.T) {
		s := f.spec("cat", "/proc/sys/kernel/shm_rmid_forced")
		s.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1"}
		if out, _ := f.runOutput(t, s); strings.TrimSpace(out) != "1" {
			t.Errorf("kernel.shm_rmid_forced = %q", out)
		}
	})

	if !seccompOK {
		t.Run("RuntimeDefault refused without seccomp support", func(t *testing.T) {
			s := f.spec("true")
			s.Seccomp = SeccompRuntimeDefault
			if _, err := f.rt.Start(context.Background(), s); err == nil || !strings.Contains(err.Error(), "seccomp") {
				t.Errorf("start: %v", err)
			}
		})
		return
	}

	t.Run("RuntimeDefault", func(t *testing.T) {
		s := f.spec("sh", "-c", status)
		s.Seccomp = SeccompRuntimeDefault
		out, code := f.runOutput(t, s)
		if statusField(out, "Seccomp") != "2" || !strings.Contains(out, "UNSHARE-FAILED") || code != 0 {
			t.Errorf("RuntimeDefault (exit %d):\n%s", code, out)
		}
		// With CAP_SYS_ADMIN, the profile lets unshare through.
		s = f.spec("sh", "-c", "unshare -U true && echo UNSHARE-OK")
		s.Seccomp, s.CapAdd = SeccompRuntimeDefault, []string{"SYS_ADMIN"}
		if out, _ := f.runOutput(t, s); !strings.Contains(out, "UNSHARE-OK") {
			t.Errorf("RuntimeDefault with CAP_SYS_ADMIN:\n%s", out)
		}
	})

	t.Run("Localhost", func(t *testing.T) {
		s := f.spec("sh", "-c", "mkdir /tmp/x && echo MKDIR-OK || echo MKDIR-FAILED")
		s.Seccomp = SeccompLocalhost
		s.SeccompProfile = []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`)
		if out, _ := f.runOutput(t, s); !strings.Contains(out, "MKDIR-FAILED") {
			t.Errorf("Localhost profile not applied:\n%s", out)
		}
	})

	t.Run("exec gets the same", func(t *testing.T) {
		s := f.spec("sleep", "60")
		s.UID, s.GID, s.AdditionalGIDs = 1000, 3000, []uint32{3000, 4000}
		s.Seccomp, s.NoNewPrivileges = SeccompRuntimeDefault, true
		f.start(t, s)
		var out bytes.Buffer
		code, err := f.rt.Exec(context.Background(), s.ID, []string{"sh", "-c", "id; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"}, nil, nil, &out, &out, false)
		if err != nil || code != 0 {
			t.Fatalf("exec: %d %v", code, err)
		}
		o := out.String()
		if !strings.Contains(o, "groups=3000,4000") || statusField(o, "Seccomp") != "2" || statusField(o, "NoNewPrivs") != "1" {
			t.Errorf("exec:\n%s", o)
		}
	})
}
