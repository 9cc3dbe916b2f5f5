package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Seccomp profile kinds, as Kubernetes names them.
const (
	SeccompUnconfined     = "Unconfined"
	SeccompRuntimeDefault = "RuntimeDefault"
	SeccompLocalhost      = "Localhost"
)

// ErrNoSeccomp is returned for a container that would get a seccomp profile from a
// binary built without seccomp support: it is refused rather than run unconfined.
var ErrNoSeccomp = errors.New("this orchd was built without seccomp support (cgo, libseccomp and the seccomp build tag; make build does it where libseccomp-dev is installed): refusing to run a container with a seccomp profile unconfined")

// SeccompSupported reports whether this binary can install seccomp filters (libcontainer
// built with cgo, libseccomp and the `seccomp` tag), and libseccomp's version.
func SeccompSupported() (bool, string) {
	major, minor, micro := seccomp.Version()
	if major == 0 && minor == 0 && micro == 0 {
		return false, ""
	}
	return true, fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// seccompProfile is a seccomp profile in the OCI format, or in Docker's, which adds an
// architecture map and rules that apply only with (or without) some capabilities, on
// some architectures or from some kernel version on.
type seccompProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []seccompArchMap         `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []seccompRule            `json:"syscalls,omitempty"`
}

type seccompArchMap struct {
	Arch specs.Arch   `json:"architecture"`
	Subs []specs.Arch `json:"subArchitectures"`
}

type seccompRule struct {
	Name     string                   `json:"name,omitempty"` // Docker's older form
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Includes seccompFilter            `json:"includes,omitzero"`
	Excludes seccompFilter            `json:"excludes,omitzero"`
}

// seccompFilter: a rule is included when the container has every capability of
// Includes.Caps, runs on one of Includes.Arches and a kernel of at least
// Includes.MinKernel; it is excluded when any part of Excludes holds.
type seccompFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// ParseSeccompProfile checks that b is a seccomp profile this runtime can install.
func ParseSeccompProfile(b []byte) error {
	p, err := parseSeccomp(b)
	if err != nil {
		return err
	}
	_, err = p.compile(defaultCaps, goruntime.GOARCH, kernelRelease())
	return err
}

func parseSeccomp(b []byte) (*seccompProfile, error) {
	var p seccompProfile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if p.DefaultAction == "" {
		return nil, errors.New("seccomp profile: defaultAction: required")
	}
	return &p, nil
}

// seccompArches maps GOARCH to the native seccomp architecture and the ones its kernel
// also runs, as Docker's profile does.
var seccompArches = map[string][]specs.Arch{
	"amd64":   {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64":   {specs.ArchAARCH64, specs.ArchARM},
	"ppc64le": {specs.ArchPPC64LE},
	"s390x":   {specs.ArchS390X, specs.ArchS390},
	"riscv64": {specs.ArchRISCV64},
}

// compile resolves p for a container with capabilities caps on goarch and kernel into
// the OCI form libcontainer installs. Every action and operator is checked.
func (p *seccompProfile) compile(caps []string, goarch string, kernel [2]int) (*specs.LinuxSeccomp, error) {
	out := &specs.LinuxSeccomp{DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet,
		Flags: p.Flags, ListenerPath: p.ListenerPath, ListenerMetadata: p.ListenerMetadata}
	if len(p.ArchMap) > 0 {
		native := seccompArches[goarch]
		for _, m := range p.ArchMap {
			if len(native) > 0 && m.Arch == native[0] {
				out.Architectures = append([]specs.Arch{m.Arch}, m.Subs...)
			}
		}
	} else {
		out.Architectures = p.Architectures
	}
	for _, a := range out.Architectures {
		if _, err := seccomp.ConvertStringToArch(string(a)); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	}
	if _, err := seccomp.ConvertStringToAction(string(p.DefaultAction)); err != nil {
		return nil, fmt.Errorf("seccomp profile: defaultAction: %w", err)
	}
	for i, r := range p.Syscalls {
		if !r.applies(caps, goarch, kernel) {
			continue
		}
		names := r.Names
		if r.Name != "" {
			names = append([]string{r.Name}, names...)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("seccomp profile: syscalls[%d]: no names", i)
		}
		if _, err := seccomp.ConvertStringToAction(string(r.Action)); err != nil {
			return nil, fmt.Errorf("seccomp profile: syscalls[%d]: %w", i, err)
		}
		for _, a := range r.Args {
			if _, err := seccomp.ConvertStringToOperator(string(a.Op)); err != nil {
				return nil, fmt.Errorf("seccomp profile: syscalls[%d]: %w", i, err)
			}
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{Names: names, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args})
	}
	return out, nil
}

func (r *seccompRule) applies(caps []string, goarch string, kernel [2]int) bool {
	in, ex := r.Includes, r.Excludes
	for _, c := range in.Caps {
		if !slices.Contains(caps, c) {
			return false
		}
	}
	if len(in.Arches) > 0 && !slices.Contains(in.Arches, goarch) {
		return false
	}
	if in.MinKernel != "" && !kernelAtLeast(kernel, in.MinKernel) {
		return false
	}
	for _, c := range ex.Caps {
		if slices.Contains(caps, c) {
			return false
		}
	}
	if slices.Contains(ex.Arches, goarch) {
		return false
	}
	if ex.MinKernel != "" && kernelAtLeast(kernel, ex.MinKernel) {
		return false
	}
	return true
}

// kernelAtLeast compares a kernel's major.minor with "MAJOR.MINOR".
func kernelAtLeast(kernel [2]int, min string) bool {
	want := parseKernel(min)
	return kernel[0] > want[0] || kernel[0] == want[0] && kernel[1] >= want[1]
}

func parseKernel(release string) [2]int {
	var v [2]int
	parts := strings.SplitN(release, ".", 3)
	for i := 0; i < 2 && i < len(parts); i++ {
		digits := parts[i]
		if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			digits = digits[:j]
		}
		v[i], _ = strconv.Atoi(digits)
	}
	return v
}

var kernelRelease = sync.OnceValue(func() [2]int {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]int{}
	}
	return parseKernel(unix.ByteSliceToString(u.Release[:]))
})

// seccompFor returns the OCI seccomp configuration of s, whose capabilities are caps:
// nil when the container is unconfined.
func seccompFor(s Spec, caps []string) (*specs.LinuxSeccomp, error) {
	if s.Privileged {
		return nil, nil // containerd: a privileged container has no filter
	}
	var p *seccompProfile
	switch s.Seccomp {
	case "", SeccompUnconfined:
		return nil, nil
	case SeccompRuntimeDefault:
		p = defaultSeccompProfile()
	case SeccompLocalhost:
		var err error
		if p, err = parseSeccomp(s.SeccompProfile); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("seccomp: unknown profile type %q", s.Seccomp)
	}
	if ok, _ := SeccompSupported(); !ok {
		return nil, ErrNoSeccomp
	}
	return p.compile(caps, goruntime.GOARCH, kernelRelease())
}

// errnoRet is a pointer to an errno, for profiles.
func errnoRet(e unix.Errno) *uint {
	n := uint(e)
	return &n
}
