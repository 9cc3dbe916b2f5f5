package server

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Security contexts: what Kubernetes validates, and the refusal of what orch nodes
// cannot enforce (SELinux, AppArmor, an unmasked /proc, unsafe sysctls) rather than
// accepting it and running the container without it.

const (
	appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"
	maxSysctlNameLen         = 253
)

var (
	supportedSeccompTypes    = []string{"RuntimeDefault", "Unconfined", "Localhost"}
	supportedProcMountTypes  = []string{"Default"}
	supportedFSGroupPolicies = []string{"OnRootMismatch", "Always"}
	// safeSysctls are the kubelet's safe sysctls, the only ones orch nodes allow (the
	// node checks them again).
	safeSysctls = []string{
		"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
		"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
		"net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
		"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
	}
)

const (
	noSELinux  = "SELinux is not supported: orch nodes run without SELinux"
	noAppArmor = "AppArmor is not supported: orch nodes run without AppArmor"
)

// validatePodSecurity checks the pod's securityContext and every container's.
func validatePodSecurity(s *orchv1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sc := s.GetSecurityContext()
	if sc == nil {
		sc = &orchv1.PodSecurityContext{} // not defaulted (a template): nothing set
	}
	sp := p.Child("securityContext")
	errs = append(errs, validateID(sc.RunAsUser, sp.Child("runAsUser"))...)
	errs = append(errs, validateID(sc.RunAsGroup, sp.Child("runAsGroup"))...)
	errs = append(errs, validateID(sc.FsGroup, sp.Child("fsGroup"))...)
	for i, g := range sc.GetSupplementalGroups() {
		errs = append(errs, validateID(&g, sp.Child("supplementalGroups").Index(i))...)
	}
	if sc.FsGroupChangePolicy != nil {
		errs = append(errs, validateEnum(sc.GetFsGroupChangePolicy(), supportedFSGroupPolicies, sp.Child("fsGroupChangePolicy"))...)
	}
	errs = append(errs, validateSELinux(sc.GetSeLinuxOptions(), sp.Child("seLinuxOptions"))...)
	errs = append(errs, validateSeccompProfile(sc.GetSeccompProfile(), sp.Child("seccompProfile"))...)
	errs = append(errs, validateSysctls(s, sp.Child("sysctls"))...)
	errs = append(errs, validateHostUsers(s, p)...)
	for i, c := range s.GetInitContainers() {
		errs = append(errs, validateContainerSecurity(c.GetSecurityContext(), p.Child("initContainers").Index(i).Child("securityContext"))...)
	}
	for i, c := range s.GetContainers() {
		errs = append(errs, validateContainerSecurity(c.GetSecurityContext(), p.Child("containers").Index(i).Child("securityContext"))...)
	}
	return errs
}

// validateHostUsers applies Kubernetes' rule for hostUsers: false: a pod in its own
// user namespace shares none of the host's other namespaces. Whether a node can give it
// a user namespace is the node's to say (orch nodes refuse such pods when they cannot).
func validateHostUsers(s *orchv1.PodSpec, p *field.Path) field.ErrorList {
	if s.HostUsers == nil || *s.HostUsers {
		return nil
	}
	const msg = "when `hostUsers` is false"
	var errs field.ErrorList
	if s.GetHostNetwork() {
		errs = append(errs, field.Forbidden(p.Child("hostNetwork"), msg))
	}
	if s.GetHostPid() {
		errs = append(errs, field.Forbidden(p.Child("hostPID"), msg))
	}
	if s.GetHostIpc() {
		errs = append(errs, field.Forbidden(p.Child("hostIPC"), msg))
	}
	return errs
}

func validateContainerSecurity(sc *orchv1.SecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, validateID(sc.RunAsUser, p.Child("runAsUser"))...)
	errs = append(errs, validateID(sc.RunAsGroup, p.Child("runAsGroup"))...)
	errs = append(errs, validateSELinux(sc.GetSeLinuxOptions(), p.Child("seLinuxOptions"))...)
	errs = append(errs, validateSeccompProfile(sc.GetSeccompProfile(), p.Child("seccompProfile"))...)
	if sc.ProcMount != nil {
		errs = append(errs, validateEnum(sc.GetProcMount(), supportedProcMountTypes, p.Child("procMount"))...)
	}
	if sc.AllowPrivilegeEscalation != nil && !sc.GetAllowPrivilegeEscalation() {
		if sc.GetPrivileged() {
			errs = append(errs, field.Invalid(p, "", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if slices.ContainsFunc(sc.GetCapabilities().GetAdd(), isSysAdmin) {
			errs = append(errs, field.Invalid(p, "", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	return errs
}

// isSysAdmin: containerd takes capability names in any case, with or without CAP_.
func isSysAdmin(c string) bool {
	c = strings.ToUpper(c)
	return c == "CAP_SYS_ADMIN" || c == "SYS_ADMIN"
}

// validateID checks a uid or gid as Kubernetes does: 0 to 2147483647.
func validateID(id *int32, p *field.Path) field.ErrorList {
	if id != nil && *id < 0 {
		return field.ErrorList{field.Invalid(p, *id, fmt.Sprintf("must be between %d and %d, inclusive", 0, math.MaxInt32))}
	}
	return nil
}

func validateSELinux(o *orchv1.SELinuxOptions, p *field.Path) field.ErrorList {
	if o.GetUser() == "" && o.GetRole() == "" && o.GetType() == "" && o.GetLevel() == "" {
		return nil
	}
	return field.ErrorList{field.Forbidden(p, noSELinux)}
}

func validateSeccompProfile(sp *orchv1.SeccompProfile, p *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	if sp.GetType() == "" {
		errs = append(errs, field.Required(p.Child("type"), ""))
	} else {
		errs = append(errs, validateEnum(sp.GetType(), supportedSeccompTypes, p.Child("type"))...)
	}
	lp := p.Child("localhostProfile")
	switch {
	case sp.GetType() == "Localhost" && sp.GetLocalhostProfile() == "":
		errs = append(errs, field.Required(lp, "must be set when seccomp type is Localhost"))
	case sp.GetType() != "Localhost" && sp.LocalhostProfile != nil:
		errs = append(errs, field.Invalid(lp, sp.GetLocalhostProfile(), "can only be set when seccomp type is Localhost"))
	case sp.GetType() == "Localhost":
		errs = append(errs, validateLocalPath(sp.GetLocalhostProfile(), lp)...)
	}
	return errs
}

// validateSysctls allows the kubelet's safe sysctls, once each, and no net.* with
// hostNetwork nor kernel.shm* with hostIPC (they would change the node's own).
func validateSysctls(s *orchv1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, sc := range s.GetSecurityContext().GetSysctls() {
		np := p.Index(i).Child("name")
		name := sc.GetName()
		if strings.Contains(name, "/") {
			name = strings.NewReplacer(".", "/", "/", ".").Replace(name)
		}
		switch {
		case name == "":
			errs = append(errs, field.Required(np, ""))
			continue
		case len(name) > maxSysctlNameLen:
			errs = append(errs, field.TooLong(np, name, maxSysctlNameLen))
			continue
		case seen[name]:
			errs = append(errs, field.Duplicate(np, sc.GetName()))
			continue
		}
		seen[name] = true
		switch {
		case !slices.Contains(safeSysctls, name):
			errs = append(errs, field.Forbidden(np, fmt.Sprintf("sysctl %q is not in the safe set orch nodes allow (%s)", sc.GetName(), strings.Join(safeSysctls, ", "))))
		case s.GetHostNetwork() && strings.HasPrefix(name, "net."):
			errs = append(errs, field.Invalid(np, sc.GetName(), "may not be specified when 'hostNetwork' is true"))
		case s.GetHostIpc() && strings.HasPrefix(name, "kernel.shm"):
			errs = append(errs, field.Invalid(np, sc.GetName(), "may not be specified when 'hostIPC' is true"))
		}
	}
	return errs
}

// validateAppArmor checks the AppArmor annotations of a pod or pod template: each must
// name one of its containers and a valid profile, and only "unconfined" is allowed.
func validateAppArmor(m *orchv1.ObjectMeta, s *orchv1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedMapKeys(m.GetAnnotations()) {
		name, ok := strings.CutPrefix(k, appArmorAnnotationPrefix)
		if !ok {
			continue
		}
		ap := p.Key(k)
		found := false
		for _, c := range append(append([]*orchv1.Container{}, s.GetInitContainers()...), s.GetContainers()...) {
			found = found || c.GetName() == name
		}
		v := m.GetAnnotations()[k]
		switch {
		case !found:
			errs = append(errs, field.Invalid(ap, k, "container not found"))
		case v == "unconfined":
		case v == "runtime/default" || strings.HasPrefix(v, "localhost/") && len(v) > len("localhost/"):
			errs = append(errs, field.Forbidden(ap, noAppArmor))
		default:
			errs = append(errs, field.Invalid(ap, v, "invalid AppArmor profile name: want runtime/default, localhost/<name> or unconfined"))
		}
	}
	return errs
}
