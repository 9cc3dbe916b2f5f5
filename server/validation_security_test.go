package server

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// These cases pin which securityContext settings are refused, with the field path:
// what Kubernetes refuses, and what orch nodes cannot enforce.

func podSC(f func(*orchv1.PodSecurityContext)) api.Object {
	return pod(func(p *orchv1.Pod) {
		p.Spec.SecurityContext = &orchv1.PodSecurityContext{}
		f(p.Spec.SecurityContext)
	})
}

func ctrSC(f func(*orchv1.SecurityContext)) api.Object {
	return ctr(func(c *orchv1.Container) {
		c.SecurityContext = &orchv1.SecurityContext{}
		f(c.SecurityContext)
	})
}

func TestValidateSecurityContext(t *testing.T) {
	const c0 = "spec.containers[0].securityContext"
	cases := []struct {
		name string
		obj  api.Object
		want []fe
	}{
		{"the security-context-demo is valid", pod(func(p *orchv1.Pod) {
			p.Spec.SecurityContext = &orchv1.PodSecurityContext{RunAsUser: proto.Int32(1000), RunAsGroup: proto.Int32(3000),
				FsGroup: proto.Int32(2000), SupplementalGroups: []int32{4000}, RunAsNonRoot: proto.Bool(true),
				SeccompProfile: &orchv1.SeccompProfile{Type: "RuntimeDefault"},
				Sysctls:        []*orchv1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "0 2147483647"}, {Name: "kernel/shm_rmid_forced", Value: "1"}}}
			p.Spec.Containers[0].SecurityContext = &orchv1.SecurityContext{AllowPrivilegeEscalation: proto.Bool(false),
				Capabilities: &orchv1.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_BIND_SERVICE"}}, ReadOnlyRootFilesystem: proto.Bool(true),
				ProcMount: proto.String("Default"), SeccompProfile: &orchv1.SeccompProfile{Type: "Localhost", LocalhostProfile: proto.String("team/web.json")}}
			p.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "web": "unconfined"}
		}), nil},
		{"privileged pod is valid", ctrSC(func(s *orchv1.SecurityContext) { s.Privileged = proto.Bool(true) }), nil},

		{"negative runAsUser", podSC(func(s *orchv1.PodSecurityContext) { s.RunAsUser = proto.Int32(-1) }), []fe{{"spec.securityContext.runAsUser", errInvalid}}},
		{"negative container runAsGroup", ctrSC(func(s *orchv1.SecurityContext) { s.RunAsGroup = proto.Int32(-5) }), []fe{{c0 + ".runAsGroup", errInvalid}}},
		{"negative supplemental group", podSC(func(s *orchv1.PodSecurityContext) { s.SupplementalGroups = []int32{1, -2} }),
			[]fe{{"spec.securityContext.supplementalGroups[1]", errInvalid}}},
		{"negative fsGroup", podSC(func(s *orchv1.PodSecurityContext) { s.FsGroup = proto.Int32(-1) }), []fe{{"spec.securityContext.fsGroup", errInvalid}}},
		{"fsGroupChangePolicy", podSC(func(s *orchv1.PodSecurityContext) { s.FsGroupChangePolicy = proto.String("Sometimes") }),
			[]fe{{"spec.securityContext.fsGroupChangePolicy", errNotSupported}}},

		{"privileged without escalation", ctrSC(func(s *orchv1.SecurityContext) {
			s.Privileged, s.AllowPrivilegeEscalation = proto.Bool(true), proto.Bool(false)
		}), []fe{{c0, errInvalid}}},
		{"CAP_SYS_ADMIN without escalation", ctrSC(func(s *orchv1.SecurityContext) {
			s.AllowPrivilegeEscalation = proto.Bool(false)
			s.Capabilities = &orchv1.Capabilities{Add: []string{"sys_admin"}}
		}), []fe{{c0, errInvalid}}},
		{"procMount Unmasked", ctrSC(func(s *orchv1.SecurityContext) { s.ProcMount = proto.String("Unmasked") }), []fe{{c0 + ".procMount", errNotSupported}}},

		{"seccomp type required", podSC(func(s *orchv1.PodSecurityContext) { s.SeccompProfile = &orchv1.SeccompProfile{} }),
			[]fe{{"spec.securityContext.seccompProfile.type", errRequired}}},
		{"seccomp type unknown", ctrSC(func(s *orchv1.SecurityContext) { s.SeccompProfile = &orchv1.SeccompProfile{Type: "Strict"} }),
			[]fe{{c0 + ".seccompProfile.type", errNotSupported}}},
		{"Localhost without a profile", ctrSC(func(s *orchv1.SecurityContext) { s.SeccompProfile = &orchv1.SeccompProfile{Type: "Localhost"} }),
			[]fe{{c0 + ".seccompProfile.localhostProfile", errRequired}}},
		{"profile without Localhost", ctrSC(func(s *orchv1.SecurityContext) {
			s.SeccompProfile = &orchv1.SeccompProfile{Type: "RuntimeDefault", LocalhostProfile: proto.String("x.json")}
		}), []fe{{c0 + ".seccompProfile.localhostProfile", errInvalid}}},
		{"Localhost escaping the root", ctrSC(func(s *orchv1.SecurityContext) {
			s.SeccompProfile = &orchv1.SeccompProfile{Type: "Localhost", LocalhostProfile: proto.String("../etc/x.json")}
		}), []fe{{c0 + ".seccompProfile.localhostProfile", errInvalid}}},
		{"Localhost absolute", podSC(func(s *orchv1.PodSecurityContext) {
			s.SeccompProfile = &orchv1.SeccompProfile{Type: "Localhost", LocalhostProfile: proto.String("/etc/x.json")}
		}), []fe{{"spec.securityContext.seccompProfile.localhostProfile", errInvalid}}},

		{"SELinux on the pod", podSC(func(s *orchv1.PodSecurityContext) { s.SeLinuxOptions = &orchv1.SELinuxOptions{Level: "s0:c123,c456"} }),
			[]fe{{"spec.securityContext.seLinuxOptions", errForbidden}}},
		{"SELinux on an init container", pod(func(p *orchv1.Pod) {
			p.Spec.InitContainers = []*orchv1.Container{{Name: "init", Image: "busybox",
				SecurityContext: &orchv1.SecurityContext{SeLinuxOptions: &orchv1.SELinuxOptions{Type: "spc_t"}}}}
		}), []fe{{"spec.initContainers[0].securityContext.seLinuxOptions", errForbidden}}},
		{"empty SELinux is fine", podSC(func(s *orchv1.PodSecurityContext) { s.SeLinuxOptions = &orchv1.SELinuxOptions{} }), nil},

		{"unsafe sysctl", podSC(func(s *orchv1.PodSecurityContext) {
			s.Sysctls = []*orchv1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "kernel.msgmax", Value: "65536"}}
		}), []fe{{"spec.securityContext.sysctls[1].name", errForbidden}}},
		{"duplicate sysctl", podSC(func(s *orchv1.PodSecurityContext) {
			s.Sysctls = []*orchv1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "net/ipv4/tcp_syncookies", Value: "0"}}
		}), []fe{{"spec.securityContext.sysctls[1].name", errDuplicate}}},
		{"sysctl name required", podSC(func(s *orchv1.PodSecurityContext) { s.Sysctls = []*orchv1.Sysctl{{Value: "1"}} }),
			[]fe{{"spec.securityContext.sysctls[0].name", errRequired}}},
		{"net sysctl with hostNetwork", pod(func(p *orchv1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.SecurityContext = &orchv1.PodSecurityContext{Sysctls: []*orchv1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}}}
		}), []fe{{"spec.securityContext.sysctls[0].name", errInvalid}}},
		{"shm sysctl with hostIPC", pod(func(p *orchv1.Pod) {
			p.Spec.HostIpc = true
			p.Spec.SecurityContext = &orchv1.PodSecurityContext{Sysctls: []*orchv1.Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}}}
		}), []fe{{"spec.securityContext.sysctls[0].name", errInvalid}}},

		{"hostUsers false alone", pod(func(p *orchv1.Pod) { p.Spec.HostUsers = proto.Bool(false) }), nil},
		{"hostUsers true with host namespaces", pod(func(p *orchv1.Pod) {
			p.Spec.HostUsers, p.Spec.HostNetwork, p.Spec.HostPid = proto.Bool(true), true, true
		}), nil},
		{"hostUsers false with host namespaces", pod(func(p *orchv1.Pod) {
			p.Spec.HostUsers, p.Spec.HostNetwork, p.Spec.HostPid, p.Spec.HostIpc = proto.Bool(false), true, true, true
		}), []fe{{"spec.hostNetwork", errForbidden}, {"spec.hostPID", errForbidden}, {"spec.hostIPC", errForbidden}}},

		{"AppArmor profile", pod(func(p *orchv1.Pod) {
			p.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "web": "runtime/default"}
		}), []fe{{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]", errForbidden}}},
		{"AppArmor localhost profile", pod(func(p *orchv1.Pod) {
			p.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "web": "localhost/k8s-deny-write"}
		}), []fe{{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]", errForbidden}}},
		{"AppArmor bad value", pod(func(p *orchv1.Pod) {
			p.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "web": "strict"}
		}), []fe{{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]", errInvalid}}},
		{"AppArmor unknown container", pod(func(p *orchv1.Pod) {
			p.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "db": "unconfined"}
		}), []fe{{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/db]", errInvalid}}},
		{"AppArmor in a template", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Template.Metadata.Annotations = map[string]string{appArmorAnnotationPrefix + "web": "runtime/default"}
		}), []fe{{"spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]", errForbidden}}},
		{"template container security", with(validDeployment(), func(d *orchv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext = &orchv1.SecurityContext{ProcMount: proto.String("Unmasked")}
		}), []fe{{"spec.template.spec.containers[0].securityContext.procMount", errNotSupported}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := admitForTest(tc.obj)
			if len(errs) != len(tc.want) {
				t.Fatalf("want %d errors %v, got %v", len(tc.want), tc.want, errs.ToAggregate())
			}
			for i, e := range errs {
				if e.Field != tc.want[i].path || e.Type != tc.want[i].typ {
					t.Errorf("error %d: want %s (%s), got %s (%s)", i, tc.want[i].path, tc.want[i].typ, e.Field, e.Type)
				}
			}
		})
	}
}

func TestSecurityContextMessages(t *testing.T) {
	for _, tc := range []struct {
		obj  api.Object
		want string
	}{
		{ctrSC(func(s *orchv1.SecurityContext) { s.ProcMount = proto.String("Unmasked") }),
			`spec.containers[0].securityContext.procMount: Unsupported value: "Unmasked": supported values: "Default"`},
		{ctrSC(func(s *orchv1.SecurityContext) {
			s.Privileged, s.AllowPrivilegeEscalation = proto.Bool(true), proto.Bool(false)
		}),
			"spec.containers[0].securityContext: Invalid value: \"\": cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
		{podSC(func(s *orchv1.PodSecurityContext) { s.SeLinuxOptions = &orchv1.SELinuxOptions{User: "system_u"} }),
			"spec.securityContext.seLinuxOptions: Forbidden: SELinux is not supported: orch nodes run without SELinux"},
		{podSC(func(s *orchv1.PodSecurityContext) { s.Sysctls = []*orchv1.Sysctl{{Name: "kernel.msgmax", Value: "1"}} }),
			`spec.securityContext.sysctls[0].name: Forbidden: sysctl "kernel.msgmax" is not in the safe set orch nodes allow`},
	} {
		errs := admitForTest(tc.obj)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
			t.Errorf("got %v, want %q", errs.ToAggregate(), tc.want)
		}
	}
}
