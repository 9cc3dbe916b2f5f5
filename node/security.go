package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// What this node enforces, for the Node's securityAnnotation.
const (
	securityAnnotation = "orch.dev/security"
	appArmorPrefix     = "container.apparmor.security.beta.kubernetes.io/"
	appArmorUnconfined = "unconfined"
	procMountDefault   = "Default"
)

// safeSysctls are the kubelet's safe sysctls: namespaced, and unable to affect other pods
// or the node. The API server refuses others; the node checks again.
var safeSysctls = []string{
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}

// securityInput is everything the security decisions of one container depend on.
type securityInput struct {
	pod *orchv1.Pod
	c   *orchv1.Container
	// imageUser is the image's USER; passwd and group are the image's /etc/passwd and
	// /etc/group (nil when it has none).
	imageUser     string
	passwd, group []byte
	// seccompDefault makes RuntimeDefault the profile of containers that ask for none;
	// seccompSupported is whether this binary can install seccomp filters.
	seccompDefault, seccompSupported bool
	// localhostProfile reads a Localhost seccomp profile by its path under the node's
	// seccomp root.
	localhostProfile func(rel string) ([]byte, error)
}

// security is what the securityContexts decide for one container.
type security struct {
	UID, GID        uint32
	AdditionalGIDs  []uint32
	Privileged      bool
	NoNewPrivileges bool
	ReadonlyRootfs  bool
	CapAdd, CapDrop []string
	Seccomp         string
	SeccompProfile  []byte
	Sysctls         map[string]string
}

// apply sets s's user, groups and confinement.
func (sec security) apply(s *runtime.Spec) {
	s.UID, s.GID, s.AdditionalGIDs = sec.UID, sec.GID, sec.AdditionalGIDs
	s.Privileged, s.NoNewPrivileges, s.ReadonlyRootfs = sec.Privileged, sec.NoNewPrivileges, sec.ReadonlyRootfs
	s.CapAdd, s.CapDrop = sec.CapAdd, sec.CapDrop
	s.Seccomp, s.SeccompProfile = sec.Seccomp, sec.SeccompProfile
	s.Sysctls = sec.Sysctls
}

// effective is a container's securityContext with the pod's filled in where the
// container sets nothing, as Kubernetes' DetermineEffectiveSecurityContext.
type effective struct {
	runAsUser, runAsGroup *int32
	runAsNonRoot          bool
	seLinux               *orchv1.SELinuxOptions
	seccomp               *orchv1.SeccompProfile
}

// contexts returns the pod's and the container's securityContext, empty when unset.
func contexts(pod *orchv1.Pod, c *orchv1.Container) (*orchv1.PodSecurityContext, *orchv1.SecurityContext) {
	psc, csc := pod.GetSpec().GetSecurityContext(), c.GetSecurityContext()
	if psc == nil {
		psc = &orchv1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &orchv1.SecurityContext{}
	}
	return psc, csc
}

func effectiveContext(pod *orchv1.Pod, c *orchv1.Container) effective {
	psc, csc := contexts(pod, c)
	e := effective{runAsUser: psc.RunAsUser, runAsGroup: psc.RunAsGroup, runAsNonRoot: psc.GetRunAsNonRoot(),
		seLinux: psc.GetSeLinuxOptions(), seccomp: psc.GetSeccompProfile()}
	if csc.RunAsUser != nil {
		e.runAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		e.runAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		e.runAsNonRoot = csc.GetRunAsNonRoot()
	}
	if csc.GetSeLinuxOptions() != nil {
		e.seLinux = csc.GetSeLinuxOptions()
	}
	if csc.GetSeccompProfile() != nil {
		e.seccomp = csc.GetSeccompProfile()
	}
	return e
}

// formatPod names a pod as the kubelet's messages do.
func formatPod(p *orchv1.Pod) string {
	m := p.GetMetadata()
	return fmt.Sprintf("%s_%s(%s)", m.GetName(), m.GetNamespace(), m.GetUid())
}

// decideSecurity works out the user, groups and confinement of a container, or why it
// must not start (the kubelet's CreateContainerConfigError).
func decideSecurity(in securityInput) (security, error) {
	pod, c := in.pod, in.c
	psc, csc := contexts(pod, c)
	e := effectiveContext(pod, c)
	var sec security

	if err := verifyRunAsNonRoot(in, e); err != nil {
		return sec, err
	}
	u, err := resolveUser(in.imageUser, e.runAsUser, e.runAsGroup, in.passwd, in.group)
	if err != nil {
		return sec, err
	}
	sec.UID, sec.GID = u.uid, u.gid
	groups := append([]uint32{u.gid}, u.groups...)
	if psc.FsGroup != nil {
		groups = append(groups, uint32(psc.GetFsGroup()))
	}
	for _, g := range psc.GetSupplementalGroups() {
		groups = append(groups, uint32(g))
	}
	for _, g := range groups {
		if !slices.Contains(sec.AdditionalGIDs, g) {
			sec.AdditionalGIDs = append(sec.AdditionalGIDs, g)
		}
	}

	if seLinuxSet(e.seLinux) {
		return sec, errors.New("seLinuxOptions: this node has no SELinux")
	}
	if v, ok := pod.GetMetadata().GetAnnotations()[appArmorPrefix+c.GetName()]; ok && v != appArmorUnconfined {
		return sec, errors.New("Cannot enforce AppArmor: AppArmor is not enabled on the host")
	}
	if pm := csc.GetProcMount(); pm != "" && pm != procMountDefault {
		return sec, fmt.Errorf("procMount %q: not supported on this node", pm)
	}

	sec.Privileged = csc.GetPrivileged()
	sec.ReadonlyRootfs = csc.GetReadOnlyRootFilesystem()
	// Kubernetes sets no_new_privs only when allowPrivilegeEscalation is false.
	sec.NoNewPrivileges = csc.AllowPrivilegeEscalation != nil && !csc.GetAllowPrivilegeEscalation()
	if sec.Privileged && sec.NoNewPrivileges {
		return sec, errors.New("cannot set allowPrivilegeEscalation to false and privileged to true")
	}
	sec.CapAdd = slices.Clone(csc.GetCapabilities().GetAdd())
	sec.CapDrop = slices.Clone(csc.GetCapabilities().GetDrop())

	for _, s := range psc.GetSysctls() {
		name := normalizeSysctl(s.GetName())
		if !slices.Contains(safeSysctls, name) {
			return sec, fmt.Errorf("sysctl %q is not in the node's safe set", s.GetName())
		}
		if sec.Sysctls == nil {
			sec.Sysctls = map[string]string{}
		}
		sec.Sysctls[name] = s.GetValue()
	}

	if err := decideSeccomp(in, e, &sec); err != nil {
		return sec, err
	}
	return sec, nil
}

// decideSeccomp picks the profile: the container's, else the pod's, else RuntimeDefault
// (--seccomp-default) or Unconfined. Privileged containers are always Unconfined.
func decideSeccomp(in securityInput, e effective, sec *security) error {
	typ := runtime.SeccompUnconfined
	if in.seccompDefault {
		typ = runtime.SeccompRuntimeDefault
	}
	var rel string
	if e.seccomp != nil {
		typ, rel = e.seccomp.GetType(), e.seccomp.GetLocalhostProfile()
	}
	if sec.Privileged {
		typ = runtime.SeccompUnconfined
	}
	switch typ {
	case runtime.SeccompUnconfined:
		sec.Seccomp = runtime.SeccompUnconfined
		return nil
	case runtime.SeccompRuntimeDefault, runtime.SeccompLocalhost:
	default:
		return fmt.Errorf("seccompProfile.type %q: want RuntimeDefault, Unconfined or Localhost", typ)
	}
	if !in.seccompSupported {
		return fmt.Errorf("seccomp profile %s: %w", typ, runtime.ErrNoSeccomp)
	}
	sec.Seccomp = typ
	if typ == runtime.SeccompLocalhost {
		if rel == "" {
			return errors.New("seccompProfile.localhostProfile: required for type Localhost")
		}
		b, err := in.localhostProfile(rel)
		if err != nil {
			return fmt.Errorf("seccomp profile %q: %w", rel, err)
		}
		if err := runtime.ParseSeccompProfile(b); err != nil {
			return fmt.Errorf("seccomp profile %q: %w", rel, err)
		}
		sec.SeccompProfile = b
	}
	return nil
}

// verifyRunAsNonRoot refuses a container that would run as root under runAsNonRoot,
// with the kubelet's messages. A user name in the image cannot be verified.
func verifyRunAsNonRoot(in securityInput, e effective) error {
	if !e.runAsNonRoot {
		return nil
	}
	pod, name := formatPod(in.pod), in.c.GetName()
	if e.runAsUser != nil {
		if *e.runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod, name)
		}
		return nil
	}
	user, _, _ := strings.Cut(in.imageUser, ":")
	if user == "" {
		user = "0"
	}
	uid, err := strconv.ParseUint(user, 10, 32)
	switch {
	case err != nil:
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user, pod, name)
	case uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod, name)
	}
	return nil
}

func seLinuxSet(o *orchv1.SELinuxOptions) bool {
	return o.GetUser() != "" || o.GetRole() != "" || o.GetType() != "" || o.GetLevel() != ""
}

// normalizeSysctl turns "net/ipv4/ping_group_range" into the dotted form.
func normalizeSysctl(n string) string {
	if strings.Contains(n, "/") {
		n = strings.ReplaceAll(n, ".", "\x00")
		n = strings.ReplaceAll(n, "/", ".")
		n = strings.ReplaceAll(n, "\x00", "/")
	}
	return n
}

// resolvedUser is the process's identity and the groups the image's /etc/group gives it.
type resolvedUser struct {
	uid, gid uint32
	groups   []uint32
}

type passwdEntry struct {
	name     string
	uid, gid uint32
}

// resolveUser resolves the process's user as containerd does. The user is runAsUser,
// or else the image's USER (a name or a number; root when empty). The group is
// runAsGroup, or else the group part of the image's USER when runAsUser does not
// replace it, or else the user's group in the image's /etc/passwd, or else 0.
// A named user or group the image does not have is an error. A user found in
// /etc/passwd also gets the groups /etc/group lists it in.
func resolveUser(imageUser string, runAsUser, runAsGroup *int32, passwd, group []byte) (resolvedUser, error) {
	var r resolvedUser
	userPart, groupPart, _ := strings.Cut(imageUser, ":")
	if runAsUser != nil {
		userPart, groupPart = strconv.FormatInt(int64(*runAsUser), 10), ""
	}
	if userPart == "" {
		userPart = "0"
	}
	users := parsePasswd(passwd)
	var entry *passwdEntry
	if uid, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		r.uid = uint32(uid)
		for i := range users {
			if users[i].uid == r.uid {
				entry = &users[i]
				break
			}
		}
	} else {
		for i := range users {
			if users[i].name == userPart {
				entry = &users[i]
				break
			}
		}
		if entry == nil {
			return r, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		r.uid = entry.uid
	}
	groups := parseGroup(group)
	switch {
	case runAsGroup != nil:
		r.gid = uint32(*runAsGroup)
	case groupPart != "":
		if gid, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			r.gid = uint32(gid)
		} else {
			i := slices.IndexFunc(groups, func(g groupEntry) bool { return g.name == groupPart })
			if i < 0 {
				return r, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
			r.gid = groups[i].gid
		}
	case entry != nil:
		r.gid = entry.gid
	}
	if entry != nil {
		for _, g := range groups {
			if g.name != entry.name && slices.Contains(g.members, entry.name) {
				r.groups = append(r.groups, g.gid)
			}
		}
	}
	return r, nil
}

// parsePasswd reads name:password:uid:gid:... lines; malformed ones are skipped.
func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)})
		}
	}
	return out
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// parseGroup reads name:password:gid:member,member lines; malformed ones are skipped.
func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}

// readInRoot reads rel inside dir without leaving it (symlinks included): a missing
// file is nil, no error.
func readInRoot(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	b, err := root.ReadFile(rel)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// localhostProfileReader reads Localhost seccomp profiles under root: the path must be
// relative and stay inside root, symlinks included.
func localhostProfileReader(root string) func(string) ([]byte, error) {
	return func(rel string) ([]byte, error) {
		if filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("must be a relative path under the node's seccomp root %s, without ..", root)
		}
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return r.ReadFile(rel)
	}
}

// containerSecurity decides the security of container c of pod, whose image's root
// filesystem is at rootfs.
func (a *Agent) containerSecurity(pod *orchv1.Pod, c *orchv1.Container, imageUser, rootfs string) (security, error) {
	in := securityInput{pod: pod, c: c, imageUser: imageUser, seccompDefault: a.cfg.seccompDefault(),
		localhostProfile: localhostProfileReader(a.cfg.SeccompProfileRoot)}
	in.seccompSupported, _ = runtime.SeccompSupported()
	var err error
	if in.passwd, err = readInRoot(rootfs, "etc/passwd"); err != nil {
		return security{}, fmt.Errorf("read the image's /etc/passwd: %w", err)
	}
	if in.group, err = readInRoot(rootfs, "etc/group"); err != nil {
		return security{}, fmt.Errorf("read the image's /etc/group: %w", err)
	}
	return decideSecurity(in)
}

// securityStatus is the value of the Node's securityAnnotation: what this node enforces.
func (a *Agent) securityStatus() string {
	seccomp := "enforced"
	if ok, _ := runtime.SeccompSupported(); !ok {
		seccomp = "unsupported"
	}
	def := runtime.SeccompUnconfined
	if a.cfg.seccompDefault() {
		def = runtime.SeccompRuntimeDefault
	}
	return "seccomp=" + seccomp + ",seccomp-default=" + def + ",apparmor=none,selinux=none,procmount=default"
}
