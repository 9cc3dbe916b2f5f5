package server

import (
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // spec.timeZone of CronJobs must validate on hosts without zoneinfo

	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/api/resource"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Size limits, as in Kubernetes.
const (
	maxAnnotationsSize = 256 * (1 << 10) // 256 KiB
	maxDataSize        = 1 << 20         // 1 MiB, ConfigMap and Secret
	maxCronJobNameLen  = 52
)

var (
	supportedProtocols        = []string{"TCP", "UDP", "SCTP"}
	supportedRestartPolicies  = []string{"Always", "OnFailure", "Never"}
	supportedDNSPolicies      = []string{"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}
	supportedPullPolicies     = []string{"Always", "IfNotPresent", "Never"}
	supportedTaintEffects     = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
	supportedAccessModes      = []string{"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}
	supportedServiceTypes     = []string{"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}
	supportedHostPathTypes    = []string{"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
	supportedVolumeModes      = []string{"Filesystem", "Block"}
	supportedResourceNames    = []string{"cpu", "memory", "ephemeral-storage"}
	supportedCronJobShortcuts = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)

// validateObject checks the object and returns every problem with its field path, as
// Kubernetes' validation does (`spec.containers[0].image: Required value`).
func validateObject(k *api.Kind, o api.Object) field.ErrorList {
	errs := validateObjectMeta(o.GetMetadata(), k.Namespaced, nameValidator(k), field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	switch x := o.(type) {
	case *orchv1.Namespace:
		for i, f := range x.GetSpec().GetFinalizers() {
			errs = append(errs, validateQualifiedName(f, specPath.Child("finalizers").Index(i))...)
		}
	case *orchv1.Node:
		errs = append(errs, validateNode(x)...)
	case *orchv1.Pod:
		errs = append(errs, validatePodSpec(x.GetSpec(), specPath)...)
		errs = append(errs, validateAppArmor(x.GetMetadata(), x.GetSpec(), field.NewPath("metadata", "annotations"))...)
	case *orchv1.Service:
		errs = append(errs, validateServiceSpec(x.GetSpec(), specPath)...)
	case *orchv1.Endpoints:
		errs = append(errs, validateEndpoints(x)...)
	case *orchv1.ConfigMap:
		errs = append(errs, validateConfigMap(x)...)
	case *orchv1.Secret:
		errs = append(errs, validateSecret(x)...)
	case *orchv1.PersistentVolume:
		errs = append(errs, validatePVSpec(x.GetSpec(), specPath)...)
	case *orchv1.PersistentVolumeClaim:
		errs = append(errs, validatePVCSpec(x.GetSpec(), specPath)...)
	case *orchv1.Event:
		errs = append(errs, validateEvent(x)...)
	case *orchv1.ServiceAccount:
		// metadata only
	case *orchv1.ReplicaSet:
		s := x.GetSpec()
		errs = append(errs, validateNonnegative(int64(s.GetReplicas()), specPath.Child("replicas"))...)
		errs = append(errs, validateNonnegative(int64(s.GetMinReadySeconds()), specPath.Child("minReadySeconds"))...)
		errs = append(errs, validateWorkloadPods("replicaset", s.GetSelector(), s.GetTemplate(), nil, specPath)...)
	case *orchv1.Deployment:
		errs = append(errs, validateDeploymentSpec(x.GetSpec(), specPath)...)
	case *orchv1.StatefulSet:
		errs = append(errs, validateStatefulSetSpec(x.GetSpec(), specPath)...)
	case *orchv1.DaemonSet:
		errs = append(errs, validateDaemonSetSpec(x.GetSpec(), specPath)...)
	case *orchv1.Job:
		errs = append(errs, validateJobSpec(x.GetSpec(), specPath)...)
	case *orchv1.CronJob:
		if n := x.GetMetadata().GetName(); len(n) > maxCronJobNameLen {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), n, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLen)))
		}
		errs = append(errs, validateCronJobSpec(x.GetSpec(), specPath)...)
	case *orchv1.HorizontalPodAutoscaler:
		errs = append(errs, validateHPASpec(x.GetSpec(), specPath)...)
	case *orchv1.Role:
		errs = append(errs, validatePolicyRules(x.GetRules(), true)...)
	case *orchv1.ClusterRole:
		if x.GetAggregationRule() == nil {
			errs = append(errs, validatePolicyRules(x.GetRules(), false)...)
		} else {
			p := field.NewPath("aggregationRule", "clusterRoleSelectors")
			if len(x.GetAggregationRule().GetClusterRoleSelectors()) == 0 {
				errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
			}
			for i, s := range x.GetAggregationRule().GetClusterRoleSelectors() {
				errs = append(errs, validateLabelSelector(s, p.Index(i))...)
			}
		}
	case *orchv1.RoleBinding:
		errs = append(errs, validateBinding(x.GetRoleRef(), x.GetSubjects(), true)...)
	case *orchv1.ClusterRoleBinding:
		errs = append(errs, validateBinding(x.GetRoleRef(), x.GetSubjects(), false)...)
	}
	return errs
}

// validateUpdate checks what an update may not change, against the stored object.
// It runs inside the FSM, which alone knows the stored object a write replaces. A
// pod's node is decided once, by the scheduler's binding or at create: an update that
// moved a running pod would leave it running on its old node, unseen.
func validateUpdate(next, cur api.Object) field.ErrorList {
	var errs field.ErrorList
	if cur.GetMetadata().GetDeletionTimestamp() != nil {
		var added []string
		for _, f := range next.GetMetadata().GetFinalizers() {
			if !slices.Contains(cur.GetMetadata().GetFinalizers(), f) {
				added = append(added, f)
			}
		}
		if len(added) > 0 {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "finalizers"),
				fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", added)))
		}
	}
	if p, ok := next.(*orchv1.Pod); ok {
		old, _ := cur.(*orchv1.Pod)
		if n := p.GetSpec().GetNodeName(); n != old.GetSpec().GetNodeName() {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nodeName"), n, fieldImmutable))
		}
	}
	return errs
}

// fieldImmutable is Kubernetes' message for a field an update may not change.
const fieldImmutable = "field is immutable"

// ---------------------------------------------------------------------------------------------
// Metadata and shared helpers

// nameValidator returns the check of metadata.name for a kind.
func nameValidator(k *api.Kind) func(string) []string {
	switch k {
	case api.NamespaceKind, api.ServiceKind:
		return validation.IsDNS1123Label
	case api.RoleKind, api.ClusterRoleKind, api.RoleBindingKind, api.ClusterRoleBindingKind:
		// Kubernetes RBAC names are path segments ("system:controller:x" is valid).
		return func(n string) []string { return pathvalidation.IsValidPathSegmentName(n) }
	}
	return validation.IsDNS1123Subdomain
}

// validateObjectMeta checks the metadata of a stored object.
func validateObjectMeta(m *orchv1.ObjectMeta, namespaced bool, nameFn func(string) []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.GetName() == "" {
		errs = append(errs, field.Required(p.Child("name"), "name or generateName is required"))
	} else {
		for _, msg := range nameFn(m.GetName()) {
			errs = append(errs, field.Invalid(p.Child("name"), m.GetName(), msg))
		}
	}
	if namespaced {
		if m.GetNamespace() == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(m.GetNamespace(), p.Child("namespace"))...)
		}
	} else if m.GetNamespace() != "" {
		errs = append(errs, field.Forbidden(p.Child("namespace"), "not allowed on this type"))
	}
	errs = append(errs, validateLabels(m.GetLabels(), p.Child("labels"))...)
	errs = append(errs, validateAnnotations(m.GetAnnotations(), p.Child("annotations"))...)
	controllers := 0
	for i, r := range m.GetOwnerReferences() {
		rp := p.Child("ownerReferences").Index(i)
		if r.GetApiVersion() == "" {
			errs = append(errs, field.Required(rp.Child("apiVersion"), "must not be empty"))
		}
		if r.GetKind() == "" {
			errs = append(errs, field.Required(rp.Child("kind"), "must not be empty"))
		}
		if r.GetName() == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must not be empty"))
		}
		if r.GetUid() == "" {
			errs = append(errs, field.Required(rp.Child("uid"), "must not be empty"))
		}
		if r.GetController() {
			controllers++
		}
	}
	if controllers > 1 {
		errs = append(errs, field.Invalid(p.Child("ownerReferences"), controllers, "Only one reference can have Controller set to true"))
	}
	for i, f := range m.GetFinalizers() {
		errs = append(errs, validateQualifiedName(f, p.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateTemplateMeta checks the metadata of a template: labels and annotations only.
func validateTemplateMeta(m *orchv1.ObjectMeta, p *field.Path) field.ErrorList {
	errs := validateLabels(m.GetLabels(), p.Child("labels"))
	return append(errs, validateAnnotations(m.GetAnnotations(), p.Child("annotations"))...)
}

func sortedMapKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// validateLabels checks label keys (qualified names) and values, as Kubernetes does: the
// errors name the labels field itself.
func validateLabels(l map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedMapKeys(l) {
		errs = append(errs, validateQualifiedName(k, p)...)
		for _, msg := range validation.IsValidLabelValue(l[k]) {
			errs = append(errs, field.Invalid(p, l[k], msg))
		}
	}
	return errs
}

func validateAnnotations(a map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, k := range sortedMapKeys(a) {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		size += len(k) + len(a[k])
	}
	if size > maxAnnotationsSize {
		errs = append(errs, field.TooLong(p, "", maxAnnotationsSize))
	}
	return errs
}

func validateQualifiedName(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func validateDNS1123Label(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func validateDNS1123Subdomain(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func validateNonnegative(v int64, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

func validateAtLeast(v, lo int64, p *field.Path) field.ErrorList {
	if v < lo {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("must be greater than or equal to %d", lo))}
	}
	return nil
}

// validateOptAtLeast checks an optional (proto3 optional) integer when set.
func validateOptAtLeast(v *int32, lo int64, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return validateAtLeast(int64(*v), lo, p)
}

// validateEnum checks v is one of the supported values; empty is Required.
func validateEnum(v string, supported []string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if !slices.Contains(supported, v) {
		return field.ErrorList{field.NotSupported(p, v, supported)}
	}
	return nil
}

// validateOptEnum checks v, when set, is one of the supported values.
func validateOptEnum(v string, supported []string, p *field.Path) field.ErrorList {
	if v == "" {
		return nil
	}
	return validateEnum(v, supported, p)
}

func validateProtocol(v string, p *field.Path) field.ErrorList {
	return validateEnum(v, supportedProtocols, p)
}

// validateQuantity parses a quantity string and checks it is not negative.
func validateQuantity(v string, p *field.Path) (resource.Quantity, field.ErrorList) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return q, field.ErrorList{field.Invalid(p, v, err.Error())}
	}
	if q.Sign() < 0 {
		return q, field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return q, nil
}

// validateResourceName checks a resource name: a known one or a qualified name with a
// domain (nvidia.com/gpu).
func validateResourceName(n string, known []string, p *field.Path) field.ErrorList {
	if n == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if !strings.Contains(n, "/") {
		if slices.Contains(known, n) || strings.HasPrefix(n, "hugepages-") {
			return nil
		}
		return field.ErrorList{field.Invalid(p, n, "must be a standard resource for containers")}
	}
	return validateQualifiedName(n, p)
}

// validateResourceList checks the names and quantities of a resource list; it returns
// the parsed quantities of those that are valid.
func validateResourceList(l map[string]string, known []string, p *field.Path) (map[string]resource.Quantity, field.ErrorList) {
	var errs field.ErrorList
	out := make(map[string]resource.Quantity, len(l))
	for _, n := range sortedMapKeys(l) {
		kp := p.Key(n)
		nameErrs := validateResourceName(n, known, kp)
		q, qErrs := validateQuantity(l[n], kp)
		errs = append(append(errs, nameErrs...), qErrs...)
		if len(qErrs) == 0 {
			out[n] = q
		}
	}
	return out, errs
}

// intOrString reads an int-or-string value; ok is false when it is neither an integral
// number nor a string.
func intOrString(v *structpb.Value) (n int, s string, isInt, ok bool) {
	switch x := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if x.NumberValue != math.Trunc(x.NumberValue) || math.Abs(x.NumberValue) > math.MaxInt32 {
			return 0, "", false, false
		}
	case *structpb.Value_StringValue:
	default:
		return 0, "", false, false
	}
	n, s, isInt = api.IntOrString(v)
	return n, s, isInt, true
}

// validatePortNumOrName checks an int-or-string port: a number 1-65535 or an IANA_SVC_NAME.
func validatePortNumOrName(v *structpb.Value, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v.GetKind() == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	n, s, isInt, ok := intOrString(v)
	switch {
	case !ok:
		errs = append(errs, field.Invalid(p, v.AsInterface(), "must be an integer or a string"))
	case isInt:
		for _, msg := range validation.IsValidPortNum(n) {
			errs = append(errs, field.Invalid(p, n, msg))
		}
	default:
		for _, msg := range validation.IsValidPortName(s) {
			errs = append(errs, field.Invalid(p, s, msg))
		}
	}
	return errs
}

// validateIntOrPercent checks a value that is an integer >= 0 or a percentage "N%".
// It returns the number (the percentage for "N%").
func validateIntOrPercent(v *structpb.Value, p *field.Path) (int, field.ErrorList) {
	if v.GetKind() == nil {
		return 0, nil
	}
	n, s, isInt, ok := intOrString(v)
	switch {
	case !ok:
		return 0, field.ErrorList{field.Invalid(p, v.AsInterface(), "must be an integer or percentage (e.g '5%')")}
	case isInt:
		return n, validateNonnegative(int64(n), p)
	}
	if msgs := validation.IsValidPercent(s); len(msgs) != 0 {
		return 0, field.ErrorList{field.Invalid(p, s, strings.Join(msgs, ", "))}
	}
	pct, _ := strconv.Atoi(strings.TrimSuffix(s, "%"))
	return pct, nil
}

// validateLocalPath checks a path inside a volume: relative, without "..".
func validateLocalPath(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(v) {
		errs = append(errs, field.Invalid(p, v, "must be a relative path"))
	}
	errs = append(errs, validateNoBacksteps(v, p)...)
	return errs
}

func validateNoBacksteps(v string, p *field.Path) field.ErrorList {
	if slices.Contains(strings.Split(v, "/"), "..") {
		return field.ErrorList{field.Invalid(p, v, "must not contain '..'")}
	}
	return nil
}

func validateAbsPath(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if !path.IsAbs(v) {
		return field.ErrorList{field.Invalid(p, v, "must be an absolute path")}
	}
	return validateNoBacksteps(v, p)
}

func validateFileMode(m *int32, p *field.Path) field.ErrorList {
	if m != nil && (*m < 0 || *m > 0o777) {
		return field.ErrorList{field.Invalid(p, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Label selectors

// validateLabelSelector checks a LabelSelector's labels and expressions.
func validateLabelSelector(s *orchv1.LabelSelector, p *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	errs := validateLabels(s.GetMatchLabels(), p.Child("matchLabels"))
	for i, e := range s.GetMatchExpressions() {
		ep := p.Child("matchExpressions").Index(i)
		switch e.GetOperator() {
		case "In", "NotIn":
			if len(e.GetValues()) == 0 {
				errs = append(errs, field.Required(ep.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case "Exists", "DoesNotExist":
			if len(e.GetValues()) > 0 {
				errs = append(errs, field.Forbidden(ep.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		default:
			errs = append(errs, field.Invalid(ep.Child("operator"), e.GetOperator(), "not a valid selector operator"))
		}
		errs = append(errs, validateQualifiedName(e.GetKey(), ep.Child("key"))...)
		for j, v := range e.GetValues() {
			for _, msg := range validation.IsValidLabelValue(v) {
				errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, msg))
			}
		}
	}
	return errs
}

func selectorEmpty(s *orchv1.LabelSelector) bool {
	return len(s.GetMatchLabels())+len(s.GetMatchExpressions()) == 0
}

// validateSelectorMatchesTemplate checks that a valid, non-empty selector selects the
// template's labels.
func validateSelectorMatchesTemplate(s *orchv1.LabelSelector, t *orchv1.PodTemplateSpec, p *field.Path) field.ErrorList {
	if selectorEmpty(s) {
		return nil
	}
	sel, err := api.LabelSelector(s)
	if err != nil {
		return nil // reported by validateLabelSelector
	}
	tl := t.GetMetadata().GetLabels()
	if !sel.Matches(labels.Set(tl)) {
		return field.ErrorList{field.Invalid(p.Child("template", "metadata", "labels"), tl, "`selector` does not match template `labels`")}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Pods

// validatePodTemplateSpec checks a pod template: its labels, annotations and PodSpec.
func validatePodTemplateSpec(t *orchv1.PodTemplateSpec, p *field.Path) field.ErrorList {
	return validatePodTemplate(t, p, nil)
}

func validatePodTemplate(t *orchv1.PodTemplateSpec, p *field.Path, extraVolumes []string) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	errs := validateTemplateMeta(t.GetMetadata(), p.Child("metadata"))
	errs = append(errs, validateAppArmor(t.GetMetadata(), t.GetSpec(), p.Child("metadata", "annotations"))...)
	return append(errs, validatePodSpecVolumes(t.GetSpec(), p.Child("spec"), extraVolumes)...)
}

// validatePodSpec checks a PodSpec (of a Pod or of a pod template) at path p.
func validatePodSpec(s *orchv1.PodSpec, p *field.Path) field.ErrorList {
	return validatePodSpecVolumes(s, p, nil)
}

// validatePodSpecVolumes is validatePodSpec where the volume names extraVolumes can be
// mounted too (a StatefulSet's volume claim templates).
func validatePodSpecVolumes(s *orchv1.PodSpec, p *field.Path, extraVolumes []string) field.ErrorList {
	vols, errs := validateVolumes(s.GetVolumes(), p.Child("volumes"))
	for _, n := range extraVolumes {
		vols[n] = true
	}
	names := map[string]bool{}
	hostPorts := map[string]bool{}
	for i, c := range s.GetInitContainers() {
		errs = append(errs, validateContainer(c, true, vols, names, hostPorts, p.Child("initContainers").Index(i))...)
	}
	if len(s.GetContainers()) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	for i, c := range s.GetContainers() {
		errs = append(errs, validateContainer(c, false, vols, names, hostPorts, p.Child("containers").Index(i))...)
	}
	errs = append(errs, validatePodSecurity(s, p)...)
	errs = append(errs, validateEnum(s.GetRestartPolicy(), supportedRestartPolicies, p.Child("restartPolicy"))...)
	errs = append(errs, validateEnum(s.GetDnsPolicy(), supportedDNSPolicies, p.Child("dnsPolicy"))...)
	if s.GetDnsPolicy() == "None" && len(s.GetDnsConfig().GetNameservers()) == 0 {
		errs = append(errs, field.Required(p.Child("dnsConfig"), "must provide `dnsConfig` with at least one nameserver when `dnsPolicy` is None"))
	}
	for i, ns := range s.GetDnsConfig().GetNameservers() {
		errs = append(errs, validation.IsValidIP(p.Child("dnsConfig", "nameservers").Index(i), ns)...)
	}
	if s.TerminationGracePeriodSeconds != nil {
		errs = append(errs, validateNonnegative(int64(s.GetTerminationGracePeriodSeconds()), p.Child("terminationGracePeriodSeconds"))...)
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateAtLeast(int64(s.GetActiveDeadlineSeconds()), 1, p.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, validateLabels(s.GetNodeSelector(), p.Child("nodeSelector"))...)
	for _, n := range []struct {
		v, f string
	}{{s.GetServiceAccountName(), "serviceAccountName"}, {s.GetNodeName(), "nodeName"}, {s.GetPriorityClassName(), "priorityClassName"}} {
		if n.v != "" {
			errs = append(errs, validateDNS1123Subdomain(n.v, p.Child(n.f))...)
		}
	}
	if s.GetHostname() != "" {
		errs = append(errs, validateDNS1123Label(s.GetHostname(), p.Child("hostname"))...)
	}
	if s.GetSubdomain() != "" {
		errs = append(errs, validateDNS1123Label(s.GetSubdomain(), p.Child("subdomain"))...)
	}
	for i, ps := range s.GetImagePullSecrets() {
		if ps.GetName() == "" {
			errs = append(errs, field.Required(p.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	errs = append(errs, validateTolerations(s.GetTolerations(), p.Child("tolerations"))...)
	errs = append(errs, validateAffinity(s.GetAffinity(), p.Child("affinity"))...)
	for i, c := range s.GetTopologySpreadConstraints() {
		cp := p.Child("topologySpreadConstraints").Index(i)
		errs = append(errs, validateAtLeast(int64(c.GetMaxSkew()), 1, cp.Child("maxSkew"))...)
		if c.GetTopologyKey() == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, validateQualifiedName(c.GetTopologyKey(), cp.Child("topologyKey"))...)
		}
		errs = append(errs, validateEnum(c.GetWhenUnsatisfiable(), []string{"DoNotSchedule", "ScheduleAnyway"}, cp.Child("whenUnsatisfiable"))...)
		errs = append(errs, validateLabelSelector(c.GetLabelSelector(), cp.Child("labelSelector"))...)
	}
	for i, h := range s.GetHostAliases() {
		hp := p.Child("hostAliases").Index(i)
		errs = append(errs, validation.IsValidIP(hp.Child("ip"), h.GetIp())...)
		for j, hn := range h.GetHostnames() {
			errs = append(errs, validateDNS1123Subdomain(hn, hp.Child("hostnames").Index(j))...)
		}
	}
	_, oErrs := validateResourceList(s.GetOverhead(), supportedResourceNames, p.Child("overhead"))
	errs = append(errs, oErrs...)
	if pp := s.GetPreemptionPolicy(); s.PreemptionPolicy != nil {
		errs = append(errs, validateEnum(pp, []string{"PreemptLowerPriority", "Never"}, p.Child("preemptionPolicy"))...)
	}
	return errs
}

// validateVolumes checks pod volumes and returns the set of their names.
func validateVolumes(vols []*orchv1.Volume, p *field.Path) (map[string]bool, field.ErrorList) {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, v := range vols {
		vp := p.Index(i)
		np := vp.Child("name")
		switch {
		case v.GetName() == "":
			errs = append(errs, field.Required(np, ""))
		case names[v.GetName()]:
			errs = append(errs, field.Duplicate(np, v.GetName()))
		default:
			errs = append(errs, validateDNS1123Label(v.GetName(), np)...)
			names[v.GetName()] = true
		}
		errs = append(errs, validateVolumeSource(v, vp)...)
	}
	return names, errs
}

func validateVolumeSource(v *orchv1.Volume, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(set bool, name string) bool {
		if !set {
			return false
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
			return false
		}
		return true
	}
	if one(v.GetEmptyDir() != nil, "emptyDir") {
		ep := p.Child("emptyDir")
		if m := v.GetEmptyDir().GetMedium(); m != "" && m != "Memory" {
			errs = append(errs, field.NotSupported(ep.Child("medium"), m, []string{"", "Memory"}))
		}
		if sl := v.GetEmptyDir().GetSizeLimit(); sl != "" {
			_, qErrs := validateQuantity(sl, ep.Child("sizeLimit"))
			errs = append(errs, qErrs...)
		}
	}
	if one(v.GetHostPath() != nil, "hostPath") {
		errs = append(errs, validateHostPath(v.GetHostPath(), p.Child("hostPath"))...)
	}
	if one(v.GetConfigMap() != nil, "configMap") {
		cp := p.Child("configMap")
		if v.GetConfigMap().GetName() == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		}
		errs = append(errs, validateFileMode(v.GetConfigMap().DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.GetConfigMap().GetItems(), cp.Child("items"))...)
	}
	if one(v.GetSecret() != nil, "secret") {
		sp := p.Child("secret")
		if v.GetSecret().GetSecretName() == "" {
			errs = append(errs, field.Required(sp.Child("secretName"), ""))
		}
		errs = append(errs, validateFileMode(v.GetSecret().DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.GetSecret().GetItems(), sp.Child("items"))...)
	}
	if one(v.GetProjected() != nil, "projected") {
		pp := p.Child("projected")
		errs = append(errs, validateFileMode(v.GetProjected().DefaultMode, pp.Child("defaultMode"))...)
		for i, src := range v.GetProjected().GetSources() {
			errs = append(errs, validateProjection(src, pp.Child("sources").Index(i))...)
		}
	}
	if one(v.GetDownwardApi() != nil, "downwardAPI") {
		dp := p.Child("downwardAPI")
		errs = append(errs, validateFileMode(v.GetDownwardApi().DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIFiles(v.GetDownwardApi().GetItems(), dp.Child("items"))...)
	}
	if one(v.GetPersistentVolumeClaim() != nil, "persistentVolumeClaim") {
		if v.GetPersistentVolumeClaim().GetClaimName() == "" {
			errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
		}
	}
	if one(v.GetNfs() != nil, "nfs") {
		errs = append(errs, validateNFS(v.GetNfs(), p.Child("nfs"))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	return errs
}

func validateHostPath(h *orchv1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	errs := validateAbsPath(h.GetPath(), p.Child("path"))
	if h.Type != nil && !slices.Contains(supportedHostPathTypes, h.GetType()) {
		errs = append(errs, field.NotSupported(p.Child("type"), h.GetType(), supportedHostPathTypes))
	}
	return errs
}

func validateNFS(n *orchv1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.GetServer() == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	return append(errs, validateAbsPath(n.GetPath(), p.Child("path"))...)
}

func validateKeyToPaths(items []*orchv1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.GetKey() == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		if it.GetPath() == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalPath(it.GetPath(), ip.Child("path"))...)
		}
		errs = append(errs, validateFileMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFiles(items []*orchv1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.GetPath() == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalPath(it.GetPath(), ip.Child("path"))...)
		}
		errs = append(errs, validateFileMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.GetFieldRef() != nil && it.GetResourceFieldRef() != nil:
			errs = append(errs, field.Invalid(ip, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.GetFieldRef() != nil:
			if it.GetFieldRef().GetFieldPath() == "" {
				errs = append(errs, field.Required(ip.Child("fieldRef", "fieldPath"), ""))
			}
		case it.GetResourceFieldRef() != nil:
			errs = append(errs, validateResourceFieldRef(it.GetResourceFieldRef(), ip.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateResourceFieldRef(r *orchv1.ResourceFieldSelector, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.GetResource() == "" {
		errs = append(errs, field.Required(p.Child("resource"), ""))
	}
	if r.GetDivisor() != "" {
		_, qErrs := validateQuantity(r.GetDivisor(), p.Child("divisor"))
		errs = append(errs, qErrs...)
	}
	return errs
}

func validateProjection(src *orchv1.VolumeProjection, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	count := func(set bool, name string) bool {
		if !set {
			return false
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type per source"))
			return false
		}
		return true
	}
	if count(src.GetSecret() != nil, "secret") {
		if src.GetSecret().GetName() == "" {
			errs = append(errs, field.Required(p.Child("secret", "name"), ""))
		}
		errs = append(errs, validateKeyToPaths(src.GetSecret().GetItems(), p.Child("secret", "items"))...)
	}
	if count(src.GetConfigMap() != nil, "configMap") {
		if src.GetConfigMap().GetName() == "" {
			errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
		}
		errs = append(errs, validateKeyToPaths(src.GetConfigMap().GetItems(), p.Child("configMap", "items"))...)
	}
	if count(src.GetDownwardApi() != nil, "downwardAPI") {
		errs = append(errs, validateDownwardAPIFiles(src.GetDownwardApi().GetItems(), p.Child("downwardAPI", "items"))...)
	}
	if count(src.GetServiceAccountToken() != nil, "serviceAccountToken") {
		t := src.GetServiceAccountToken()
		if t.GetPath() == "" {
			errs = append(errs, field.Required(p.Child("serviceAccountToken", "path"), ""))
		} else {
			errs = append(errs, validateLocalPath(t.GetPath(), p.Child("serviceAccountToken", "path"))...)
		}
		if t.ExpirationSeconds != nil && t.GetExpirationSeconds() < 600 {
			errs = append(errs, field.Invalid(p.Child("serviceAccountToken", "expirationSeconds"), t.GetExpirationSeconds(), "may not specify a duration less than 10 minutes"))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify exactly 1 volume type"))
	}
	return errs
}

// validateContainer checks one container; names and hostPorts accumulate across the pod.
func validateContainer(c *orchv1.Container, init bool, vols, names, hostPorts map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	np := p.Child("name")
	switch {
	case c.GetName() == "":
		errs = append(errs, field.Required(np, ""))
	case names[c.GetName()]:
		errs = append(errs, field.Duplicate(np, c.GetName()))
	default:
		errs = append(errs, validateDNS1123Label(c.GetName(), np)...)
		names[c.GetName()] = true
	}
	if c.GetImage() == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.GetImage()) != c.GetImage() {
		errs = append(errs, field.Invalid(p.Child("image"), c.GetImage(), "must not have leading or trailing whitespace"))
	}
	errs = append(errs, validateOptEnum(c.GetImagePullPolicy(), supportedPullPolicies, p.Child("imagePullPolicy"))...)
	errs = append(errs, validateOptEnum(c.GetTerminationMessagePolicy(), []string{"File", "FallbackToLogsOnError"}, p.Child("terminationMessagePolicy"))...)

	portNames := map[string]bool{}
	for i, port := range c.GetPorts() {
		pp := p.Child("ports").Index(i)
		if port.GetName() != "" {
			if msgs := validation.IsValidPortName(port.GetName()); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(pp.Child("name"), port.GetName(), msg))
				}
			} else if portNames[port.GetName()] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.GetName()))
			} else {
				portNames[port.GetName()] = true
			}
		}
		if port.GetContainerPort() == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.GetContainerPort())) {
				errs = append(errs, field.Invalid(pp.Child("containerPort"), port.GetContainerPort(), msg))
			}
		}
		if port.GetHostPort() != 0 {
			msgs := validation.IsValidPortNum(int(port.GetHostPort()))
			for _, msg := range msgs {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), port.GetHostPort(), msg))
			}
			key := fmt.Sprintf("%s/%s/%d", port.GetHostIp(), port.GetProtocol(), port.GetHostPort())
			if len(msgs) == 0 && hostPorts[key] {
				errs = append(errs, field.Duplicate(pp.Child("hostPort"), fmt.Sprintf("%d/%s", port.GetHostPort(), port.GetProtocol())))
			}
			hostPorts[key] = true
		}
		errs = append(errs, validateProtocol(port.GetProtocol(), pp.Child("protocol"))...)
		if port.GetHostIp() != "" {
			errs = append(errs, validation.IsValidIP(pp.Child("hostIP"), port.GetHostIp())...)
		}
	}

	errs = append(errs, validateEnv(c.GetEnv(), p.Child("env"))...)
	for i, ef := range c.GetEnvFrom() {
		ep := p.Child("envFrom").Index(i)
		if ef.GetPrefix() != "" {
			for _, msg := range validation.IsEnvVarName(ef.GetPrefix()) {
				errs = append(errs, field.Invalid(ep.Child("prefix"), ef.GetPrefix(), msg))
			}
		}
		switch {
		case ef.GetConfigMapRef() != nil && ef.GetSecretRef() != nil:
			errs = append(errs, field.Invalid(ep, "", "may not have more than one field specified at a time"))
		case ef.GetConfigMapRef() != nil:
			if ef.GetConfigMapRef().GetName() == "" {
				errs = append(errs, field.Required(ep.Child("configMapRef", "name"), ""))
			}
		case ef.GetSecretRef() != nil:
			if ef.GetSecretRef().GetName() == "" {
				errs = append(errs, field.Required(ep.Child("secretRef", "name"), ""))
			}
		default:
			errs = append(errs, field.Invalid(ep, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}

	errs = append(errs, validateResources(c.GetResources(), p.Child("resources"))...)

	mountPaths := map[string]bool{}
	for i, m := range c.GetVolumeMounts() {
		mp := p.Child("volumeMounts").Index(i)
		if m.GetName() == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !vols[m.GetName()] {
			errs = append(errs, field.NotFound(mp.Child("name"), m.GetName()))
		}
		if m.GetMountPath() == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else {
			if !path.IsAbs(m.GetMountPath()) {
				errs = append(errs, field.Invalid(mp.Child("mountPath"), m.GetMountPath(), "must be an absolute path"))
			}
			if mountPaths[m.GetMountPath()] {
				errs = append(errs, field.Invalid(mp.Child("mountPath"), m.GetMountPath(), "must be unique"))
			}
			mountPaths[m.GetMountPath()] = true
		}
		if m.GetSubPath() != "" {
			errs = append(errs, validateLocalPath(m.GetSubPath(), mp.Child("subPath"))...)
		}
		if m.GetSubPathExpr() != "" {
			if m.GetSubPath() != "" {
				errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.GetSubPathExpr(), "subPathExpr and subPath are mutually exclusive"))
			}
			// As in Kubernetes the unexpanded form is checked here; the node checks the
			// expanded one again before it mounts anything.
			errs = append(errs, validateLocalPath(m.GetSubPathExpr(), mp.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, validateEnum(m.GetMountPropagation(), []string{"None", "HostToContainer", "Bidirectional"}, mp.Child("mountPropagation"))...)
			if m.GetMountPropagation() == "Bidirectional" && !c.GetSecurityContext().GetPrivileged() {
				errs = append(errs, field.Forbidden(mp.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
	}
	for i, d := range c.GetVolumeDevices() {
		dp := p.Child("volumeDevices").Index(i)
		if d.GetName() == "" {
			errs = append(errs, field.Required(dp.Child("name"), ""))
		} else if !vols[d.GetName()] {
			errs = append(errs, field.NotFound(dp.Child("name"), d.GetName()))
		}
		errs = append(errs, validateAbsPath(d.GetDevicePath(), dp.Child("devicePath"))...)
	}

	sidecar := init && c.GetRestartPolicy() == "Always"
	if c.RestartPolicy != nil {
		if init {
			errs = append(errs, validateEnum(c.GetRestartPolicy(), []string{"Always"}, p.Child("restartPolicy"))...)
		} else {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	probes := []struct {
		probe    *orchv1.Probe
		name     string
		mustBe1  bool
		initOnly bool
	}{
		{c.GetLivenessProbe(), "livenessProbe", true, false},
		{c.GetReadinessProbe(), "readinessProbe", false, false},
		{c.GetStartupProbe(), "startupProbe", true, false},
	}
	for _, pr := range probes {
		if pr.probe == nil {
			continue
		}
		pp := p.Child(pr.name)
		if init && !sidecar {
			errs = append(errs, field.Forbidden(pp, "may not be set for init containers without restartPolicy=Always"))
			continue
		}
		if init && pr.name == "readinessProbe" {
			errs = append(errs, field.Forbidden(pp, "may not be set for init containers"))
			continue
		}
		errs = append(errs, validateProbe(pr.probe, portNames, pp)...)
		if pr.mustBe1 && pr.probe.SuccessThreshold != nil && pr.probe.GetSuccessThreshold() != 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), pr.probe.GetSuccessThreshold(), "must be 1"))
		}
	}
	if l := c.GetLifecycle(); l != nil {
		if init && !sidecar {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
		} else {
			if l.GetPostStart() != nil {
				errs = append(errs, validateLifecycleHandler(l.GetPostStart(), portNames, p.Child("lifecycle", "postStart"))...)
			}
			if l.GetPreStop() != nil {
				errs = append(errs, validateLifecycleHandler(l.GetPreStop(), portNames, p.Child("lifecycle", "preStop"))...)
			}
		}
	}
	return errs
}

func validateEnv(env []*orchv1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		ep := p.Index(i)
		if e.GetName() == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			for _, msg := range validation.IsEnvVarName(e.GetName()) {
				errs = append(errs, field.Invalid(ep.Child("name"), e.GetName(), msg))
			}
		}
		vf := e.GetValueFrom()
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		if e.GetValue() != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		n := 0
		if fr := vf.GetFieldRef(); fr != nil {
			n++
			if fr.GetFieldPath() == "" {
				errs = append(errs, field.Required(vp.Child("fieldRef", "fieldPath"), ""))
			}
		}
		if rr := vf.GetResourceFieldRef(); rr != nil {
			n++
			errs = append(errs, validateResourceFieldRef(rr, vp.Child("resourceFieldRef"))...)
		}
		if cr := vf.GetConfigMapKeyRef(); cr != nil {
			n++
			errs = append(errs, validateKeySelector(cr.GetName(), cr.GetKey(), vp.Child("configMapKeyRef"))...)
		}
		if sr := vf.GetSecretKeyRef(); sr != nil {
			n++
			errs = append(errs, validateKeySelector(sr.GetName(), sr.GetKey(), vp.Child("secretKeyRef"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateKeySelector(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(p.Child("key"), key, msg))
		}
	}
	return errs
}

// validateResources checks container resources: names, quantities, requests <= limits.
func validateResources(r *orchv1.ResourceRequirements, p *field.Path) field.ErrorList {
	limits, errs := validateResourceList(r.GetLimits(), supportedResourceNames, p.Child("limits"))
	requests, rErrs := validateResourceList(r.GetRequests(), supportedResourceNames, p.Child("requests"))
	errs = append(errs, rErrs...)
	for _, n := range sortedMapKeys(requests) {
		lim, ok := limits[n]
		if q := requests[n]; ok && q.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(n), q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", n, lim.String())))
		}
	}
	return errs
}

// validateProbe checks a probe: one handler, valid ports and thresholds.
func validateProbe(pr *orchv1.Probe, portNames map[string]bool, p *field.Path) field.ErrorList {
	n := 0
	var errs field.ErrorList
	handler := func(set bool, name string) bool {
		if !set {
			return false
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
			return false
		}
		return true
	}
	if handler(pr.GetExec() != nil, "exec") {
		errs = append(errs, validateExec(pr.GetExec(), p.Child("exec"))...)
	}
	if handler(pr.GetHttpGet() != nil, "httpGet") {
		errs = append(errs, validateHTTPGet(pr.GetHttpGet(), portNames, p.Child("httpGet"))...)
	}
	if handler(pr.GetTcpSocket() != nil, "tcpSocket") {
		errs = append(errs, validateHandlerPort(pr.GetTcpSocket().GetPort(), portNames, p.Child("tcpSocket", "port"))...)
	}
	if handler(pr.GetGrpc() != nil, "grpc") {
		for _, msg := range validation.IsValidPortNum(int(pr.GetGrpc().GetPort())) {
			errs = append(errs, field.Invalid(p.Child("grpc", "port"), pr.GetGrpc().GetPort(), msg))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	errs = append(errs, validateNonnegative(int64(pr.GetInitialDelaySeconds()), p.Child("initialDelaySeconds"))...)
	errs = append(errs, validateOptAtLeast(pr.TimeoutSeconds, 1, p.Child("timeoutSeconds"))...)
	errs = append(errs, validateOptAtLeast(pr.PeriodSeconds, 1, p.Child("periodSeconds"))...)
	errs = append(errs, validateOptAtLeast(pr.SuccessThreshold, 1, p.Child("successThreshold"))...)
	errs = append(errs, validateOptAtLeast(pr.FailureThreshold, 1, p.Child("failureThreshold"))...)
	errs = append(errs, validateOptAtLeast(pr.TerminationGracePeriodSeconds, 1, p.Child("terminationGracePeriodSeconds"))...)
	return errs
}

func validateLifecycleHandler(h *orchv1.LifecycleHandler, portNames map[string]bool, p *field.Path) field.ErrorList {
	n := 0
	var errs field.ErrorList
	handler := func(set bool, name string) bool {
		if !set {
			return false
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
			return false
		}
		return true
	}
	if handler(h.GetExec() != nil, "exec") {
		errs = append(errs, validateExec(h.GetExec(), p.Child("exec"))...)
	}
	if handler(h.GetHttpGet() != nil, "httpGet") {
		errs = append(errs, validateHTTPGet(h.GetHttpGet(), portNames, p.Child("httpGet"))...)
	}
	if handler(h.GetTcpSocket() != nil, "tcpSocket") {
		errs = append(errs, validateHandlerPort(h.GetTcpSocket().GetPort(), portNames, p.Child("tcpSocket", "port"))...)
	}
	if handler(h.GetSleep() != nil, "sleep") {
		errs = append(errs, validateNonnegative(int64(h.GetSleep().GetSeconds()), p.Child("sleep", "seconds"))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

func validateExec(e *orchv1.ExecAction, p *field.Path) field.ErrorList {
	if len(e.GetCommand()) == 0 {
		return field.ErrorList{field.Required(p.Child("command"), "")}
	}
	return nil
}

func validateHTTPGet(h *orchv1.HTTPGetAction, portNames map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.GetPath() == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateHandlerPort(h.GetPort(), portNames, p.Child("port"))...)
	errs = append(errs, validateOptEnum(h.GetScheme(), []string{"HTTP", "HTTPS"}, p.Child("scheme"))...)
	for i, hd := range h.GetHttpHeaders() {
		for _, msg := range validation.IsHTTPHeaderName(hd.GetName()) {
			errs = append(errs, field.Invalid(p.Child("httpHeaders").Index(i).Child("name"), hd.GetName(), msg))
		}
	}
	return errs
}

// validateHandlerPort checks a probe or hook port: a number, or the name of a port of the
// container.
func validateHandlerPort(v *structpb.Value, portNames map[string]bool, p *field.Path) field.ErrorList {
	errs := validatePortNumOrName(v, p)
	if len(errs) > 0 {
		return errs
	}
	if _, s, isInt, _ := intOrString(v); !isInt && !portNames[s] {
		errs = append(errs, field.Invalid(p, s, "must be the name of a port of the container"))
	}
	return errs
}

func validateTolerations(ts []*orchv1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		tp := p.Index(i)
		if t.GetKey() != "" {
			errs = append(errs, validateQualifiedName(t.GetKey(), tp.Child("key"))...)
		} else if t.GetOperator() != "Exists" {
			errs = append(errs, field.Invalid(tp.Child("operator"), t.GetOperator(), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.GetEffect() != "NoExecute" {
			errs = append(errs, field.Invalid(tp.Child("effect"), t.GetEffect(), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.GetOperator() {
		case "Equal", "":
			for _, msg := range validation.IsValidLabelValue(t.GetValue()) {
				errs = append(errs, field.Invalid(tp.Child("value"), t.GetValue(), msg))
			}
		case "Exists":
			if t.GetValue() != "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.GetValue(), "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.GetOperator(), []string{"Equal", "Exists"}))
		}
		if t.GetEffect() != "" {
			errs = append(errs, validateEnum(t.GetEffect(), supportedTaintEffects, tp.Child("effect"))...)
		}
	}
	return errs
}

func validateAffinity(a *orchv1.Affinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.GetNodeAffinity(); na != nil {
		np := p.Child("nodeAffinity")
		if req := na.GetRequiredDuringSchedulingIgnoredDuringExecution(); req != nil {
			errs = append(errs, validateNodeSelector(req, np.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		}
		for i, t := range na.GetPreferredDuringSchedulingIgnoredDuringExecution() {
			tp := np.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(t.GetWeight(), tp.Child("weight"))...)
			errs = append(errs, validateNodeSelectorTerm(t.GetPreference(), tp.Child("preference"))...)
		}
	}
	podTerms := func(req []*orchv1.PodAffinityTerm, pref []*orchv1.WeightedPodAffinityTerm, pp *field.Path) {
		for i, t := range req {
			errs = append(errs, validatePodAffinityTerm(t, pp.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
		}
		for i, t := range pref {
			tp := pp.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(t.GetWeight(), tp.Child("weight"))...)
			errs = append(errs, validatePodAffinityTerm(t.GetPodAffinityTerm(), tp.Child("podAffinityTerm"))...)
		}
	}
	if pa := a.GetPodAffinity(); pa != nil {
		podTerms(pa.GetRequiredDuringSchedulingIgnoredDuringExecution(), pa.GetPreferredDuringSchedulingIgnoredDuringExecution(), p.Child("podAffinity"))
	}
	if pa := a.GetPodAntiAffinity(); pa != nil {
		podTerms(pa.GetRequiredDuringSchedulingIgnoredDuringExecution(), pa.GetPreferredDuringSchedulingIgnoredDuringExecution(), p.Child("podAntiAffinity"))
	}
	return errs
}

func validateWeight(w int32, p *field.Path) field.ErrorList {
	if w < 1 || w > 100 {
		return field.ErrorList{field.Invalid(p, w, "must be in the range 1-100")}
	}
	return nil
}

// validateNodeSelector checks a NodeSelector (node affinity, PersistentVolume node affinity).
func validateNodeSelector(s *orchv1.NodeSelector, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	tp := p.Child("nodeSelectorTerms")
	if len(s.GetNodeSelectorTerms()) == 0 {
		return field.ErrorList{field.Required(tp, "must have at least one node selector term")}
	}
	for i, t := range s.GetNodeSelectorTerms() {
		errs = append(errs, validateNodeSelectorTerm(t, tp.Index(i))...)
	}
	return errs
}

func validateNodeSelectorTerm(t *orchv1.NodeSelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range t.GetMatchExpressions() {
		errs = append(errs, validateNodeSelectorRequirement(r, p.Child("matchExpressions").Index(i))...)
	}
	for i, r := range t.GetMatchFields() {
		rp := p.Child("matchFields").Index(i)
		if r.GetKey() != "metadata.name" {
			errs = append(errs, field.NotSupported(rp.Child("key"), r.GetKey(), []string{"metadata.name"}))
		}
		if r.GetOperator() != "In" && r.GetOperator() != "NotIn" {
			errs = append(errs, field.NotSupported(rp.Child("operator"), r.GetOperator(), []string{"In", "NotIn"}))
		} else if len(r.GetValues()) != 1 {
			errs = append(errs, field.Required(rp.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
	}
	return errs
}

func validateNodeSelectorRequirement(r *orchv1.NodeSelectorRequirement, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.GetOperator() {
	case "In", "NotIn":
		if len(r.GetValues()) == 0 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case "Exists", "DoesNotExist":
		if len(r.GetValues()) > 0 {
			errs = append(errs, field.Forbidden(p.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case "Gt", "Lt":
		if len(r.GetValues()) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		} else if _, err := strconv.ParseInt(r.GetValues()[0], 10, 64); err != nil {
			errs = append(errs, field.Invalid(p.Child("values").Index(0), r.GetValues()[0], "must be an integer when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		errs = append(errs, field.Invalid(p.Child("operator"), r.GetOperator(), "not a valid selector operator"))
	}
	return append(errs, validateQualifiedName(r.GetKey(), p.Child("key"))...)
}

func validatePodAffinityTerm(t *orchv1.PodAffinityTerm, p *field.Path) field.ErrorList {
	errs := validateLabelSelector(t.GetLabelSelector(), p.Child("labelSelector"))
	errs = append(errs, validateLabelSelector(t.GetNamespaceSelector(), p.Child("namespaceSelector"))...)
	for i, ns := range t.GetNamespaces() {
		errs = append(errs, validateDNS1123Label(ns, p.Child("namespaces").Index(i))...)
	}
	if t.GetTopologyKey() == "" {
		errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
	} else {
		errs = append(errs, validateQualifiedName(t.GetTopologyKey(), p.Child("topologyKey"))...)
	}
	return errs
}

// ---------------------------------------------------------------------------------------------
// Workloads

// validateWorkloadPods checks the selector and pod template of a ReplicaSet, Deployment,
// StatefulSet or DaemonSet (whose pods must restart Always).
func validateWorkloadPods(kind string, sel *orchv1.LabelSelector, t *orchv1.PodTemplateSpec, extraVolumes []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := p.Child("selector")
	switch {
	case sel == nil:
		errs = append(errs, field.Required(sp, ""))
	case selectorEmpty(sel):
		errs = append(errs, field.Invalid(sp, sel.String(), "empty selector is invalid for "+kind))
	default:
		errs = append(errs, validateLabelSelector(sel, sp)...)
		errs = append(errs, validateSelectorMatchesTemplate(sel, t, p)...)
	}
	tp := p.Child("template")
	errs = append(errs, validatePodTemplate(t, tp, extraVolumes)...)
	if t != nil {
		if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" && rp != "" {
			errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, []string{"Always"}))
		}
		if t.GetSpec().ActiveDeadlineSeconds != nil {
			errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
		}
	}
	return errs
}

func validateDeploymentSpec(s *orchv1.DeploymentSpec, p *field.Path) field.ErrorList {
	errs := validateNonnegative(int64(s.GetReplicas()), p.Child("replicas"))
	errs = append(errs, validateWorkloadPods("deployment", s.GetSelector(), s.GetTemplate(), nil, p)...)
	sp := p.Child("strategy")
	switch st := s.GetStrategy(); st.GetType() {
	case "Recreate":
		if st.GetRollingUpdate() != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case "RollingUpdate":
		if st.GetRollingUpdate() != nil {
			rp := sp.Child("rollingUpdate")
			ru := st.GetRollingUpdate()
			unavail, uErrs := validateIntOrPercent(ru.GetMaxUnavailable(), rp.Child("maxUnavailable"))
			surge, sErrs := validateIntOrPercent(ru.GetMaxSurge(), rp.Child("maxSurge"))
			errs = append(append(errs, uErrs...), sErrs...)
			if len(uErrs)+len(sErrs) == 0 {
				if unavail == 0 && surge == 0 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.GetMaxUnavailable().AsInterface(), "may not be 0 when `maxSurge` is 0"))
				}
				if _, s, isInt, _ := intOrString(ru.GetMaxUnavailable()); !isInt && unavail > 100 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), s, "must not be greater than 100%"))
				}
			}
		}
	default:
		errs = append(errs, validateEnum(st.GetType(), []string{"Recreate", "RollingUpdate"}, sp.Child("type"))...)
	}
	errs = append(errs, validateNonnegative(int64(s.GetMinReadySeconds()), p.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(s.GetRevisionHistoryLimit()), p.Child("revisionHistoryLimit"))...)
	}
	if s.ProgressDeadlineSeconds != nil {
		pd := p.Child("progressDeadlineSeconds")
		errs = append(errs, validateNonnegative(int64(s.GetProgressDeadlineSeconds()), pd)...)
		if s.GetProgressDeadlineSeconds() <= s.GetMinReadySeconds() {
			errs = append(errs, field.Invalid(pd, s.GetProgressDeadlineSeconds(), "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStatefulSetSpec(s *orchv1.StatefulSetSpec, p *field.Path) field.ErrorList {
	errs := validateNonnegative(int64(s.GetReplicas()), p.Child("replicas"))
	errs = append(errs, validateEnum(s.GetPodManagementPolicy(), []string{"OrderedReady", "Parallel"}, p.Child("podManagementPolicy"))...)
	up := p.Child("updateStrategy")
	switch us := s.GetUpdateStrategy(); us.GetType() {
	case "RollingUpdate":
		if ru := us.GetRollingUpdate(); ru != nil {
			rp := up.Child("rollingUpdate")
			if ru.Partition != nil {
				errs = append(errs, validateNonnegative(int64(ru.GetPartition()), rp.Child("partition"))...)
			}
			if ru.GetMaxUnavailable() != nil {
				n, uErrs := validateIntOrPercent(ru.GetMaxUnavailable(), rp.Child("maxUnavailable"))
				errs = append(errs, uErrs...)
				if len(uErrs) == 0 && n < 1 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.GetMaxUnavailable().AsInterface(), "must be greater than 0"))
				}
			}
		}
	case "OnDelete":
		if us.GetRollingUpdate() != nil {
			errs = append(errs, field.Forbidden(up.Child("rollingUpdate"), "only allowed for updateStrategy 'RollingUpdate'"))
		}
	default:
		errs = append(errs, validateEnum(us.GetType(), []string{"RollingUpdate", "OnDelete"}, up.Child("type"))...)
	}
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(s.GetRevisionHistoryLimit()), p.Child("revisionHistoryLimit"))...)
	}
	errs = append(errs, validateNonnegative(int64(s.GetMinReadySeconds()), p.Child("minReadySeconds"))...)
	if rp := s.GetPersistentVolumeClaimRetentionPolicy(); rp != nil {
		pp := p.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateOptEnum(rp.GetWhenDeleted(), []string{"Retain", "Delete"}, pp.Child("whenDeleted"))...)
		errs = append(errs, validateOptEnum(rp.GetWhenScaled(), []string{"Retain", "Delete"}, pp.Child("whenScaled"))...)
	}
	if o := s.GetOrdinals(); o != nil {
		errs = append(errs, validateNonnegative(int64(o.GetStart()), p.Child("ordinals", "start"))...)
	}
	if s.GetServiceName() != "" {
		errs = append(errs, validateDNS1123Label(s.GetServiceName(), p.Child("serviceName"))...)
	}
	var claims []string
	for i, c := range s.GetVolumeClaimTemplates() {
		cp := p.Child("volumeClaimTemplates").Index(i)
		mp := cp.Child("metadata")
		if c.GetMetadata().GetName() == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(c.GetMetadata().GetName(), mp.Child("name"))...)
			claims = append(claims, c.GetMetadata().GetName())
		}
		errs = append(errs, validateTemplateMeta(c.GetMetadata(), mp)...)
		errs = append(errs, validatePVCSpec(c.GetSpec(), cp.Child("spec"))...)
	}
	errs = append(errs, validateWorkloadPods("statefulset", s.GetSelector(), s.GetTemplate(), claims, p)...)
	return errs
}

func validateDaemonSetSpec(s *orchv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	errs := validateWorkloadPods("daemonset", s.GetSelector(), s.GetTemplate(), nil, p)
	up := p.Child("updateStrategy")
	switch us := s.GetUpdateStrategy(); us.GetType() {
	case "RollingUpdate":
		if ru := us.GetRollingUpdate(); ru != nil {
			rp := up.Child("rollingUpdate")
			unavail, uErrs := validateIntOrPercent(ru.GetMaxUnavailable(), rp.Child("maxUnavailable"))
			surge, sErrs := validateIntOrPercent(ru.GetMaxSurge(), rp.Child("maxSurge"))
			errs = append(append(errs, uErrs...), sErrs...)
			if len(uErrs)+len(sErrs) == 0 {
				if unavail == 0 && surge == 0 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.GetMaxUnavailable().AsInterface(), "cannot be 0 when maxSurge is 0"))
				}
				if unavail != 0 && surge != 0 {
					errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.GetMaxSurge().AsInterface(), "may not be set when maxUnavailable is non-zero"))
				}
				if _, s, isInt, _ := intOrString(ru.GetMaxUnavailable()); !isInt && unavail > 100 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), s, "must not be greater than 100%"))
				}
			}
		}
	case "OnDelete":
	default:
		errs = append(errs, validateEnum(us.GetType(), []string{"RollingUpdate", "OnDelete"}, up.Child("type"))...)
	}
	errs = append(errs, validateNonnegative(int64(s.GetMinReadySeconds()), p.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(s.GetRevisionHistoryLimit()), p.Child("revisionHistoryLimit"))...)
	}
	return errs
}

// validateJobSpec checks a JobSpec (of a Job or a CronJob's job template).
func validateJobSpec(s *orchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		v    *int32
		name string
	}{{s.Parallelism, "parallelism"}, {s.Completions, "completions"}, {s.BackoffLimit, "backoffLimit"}, {s.TtlSecondsAfterFinished, "ttlSecondsAfterFinished"}} {
		if f.v != nil {
			errs = append(errs, validateNonnegative(int64(*f.v), p.Child(f.name))...)
		}
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateAtLeast(int64(s.GetActiveDeadlineSeconds()), 1, p.Child("activeDeadlineSeconds"))...)
	}
	if s.CompletionMode != nil {
		errs = append(errs, validateEnum(s.GetCompletionMode(), []string{"NonIndexed", "Indexed"}, p.Child("completionMode"))...)
		if s.GetCompletionMode() == "Indexed" && s.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
		}
	}
	if s.PodReplacementPolicy != nil {
		errs = append(errs, validateEnum(s.GetPodReplacementPolicy(), []string{"TerminatingOrFailed", "Failed"}, p.Child("podReplacementPolicy"))...)
	}
	if sel := s.GetSelector(); sel != nil {
		errs = append(errs, validateLabelSelector(sel, p.Child("selector"))...)
		errs = append(errs, validateSelectorMatchesTemplate(sel, s.GetTemplate(), p)...)
	}
	tp := p.Child("template")
	errs = append(errs, validatePodTemplateSpec(s.GetTemplate(), tp)...)
	if t := s.GetTemplate(); t != nil {
		if rp := t.GetSpec().GetRestartPolicy(); rp != "OnFailure" && rp != "Never" && rp != "" {
			errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, []string{"OnFailure", "Never"}))
		}
	}
	return errs
}

func validateCronJobSpec(s *orchv1.CronJobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := p.Child("schedule")
	if s.GetSchedule() == "" {
		errs = append(errs, field.Required(sp, ""))
	} else if err := checkCronSchedule(s.GetSchedule()); err != nil {
		errs = append(errs, field.Invalid(sp, s.GetSchedule(), err.Error()))
	}
	if s.TimeZone != nil {
		if tz := s.GetTimeZone(); tz == "" || strings.EqualFold(tz, "local") {
			errs = append(errs, field.Invalid(p.Child("timeZone"), tz, "unknown time zone "+tz))
		} else if _, err := time.LoadLocation(tz); err != nil {
			errs = append(errs, field.Invalid(p.Child("timeZone"), tz, err.Error()))
		}
	}
	errs = append(errs, validateEnum(s.GetConcurrencyPolicy(), []string{"Allow", "Forbid", "Replace"}, p.Child("concurrencyPolicy"))...)
	for _, f := range []struct {
		v    *int32
		name string
	}{{s.StartingDeadlineSeconds, "startingDeadlineSeconds"}, {s.SuccessfulJobsHistoryLimit, "successfulJobsHistoryLimit"}, {s.FailedJobsHistoryLimit, "failedJobsHistoryLimit"}} {
		if f.v != nil {
			errs = append(errs, validateNonnegative(int64(*f.v), p.Child(f.name))...)
		}
	}
	jp := p.Child("jobTemplate")
	if s.GetJobTemplate() == nil {
		return append(errs, field.Required(jp, ""))
	}
	errs = append(errs, validateTemplateMeta(s.GetJobTemplate().GetMetadata(), jp.Child("metadata"))...)
	return append(errs, validateJobSpec(s.GetJobTemplate().GetSpec(), jp.Child("spec"))...)
}

// cronFields are the bounds and names of the five fields of a cron schedule.
var cronFields = []struct {
	name   string
	lo, hi int
	names  []string
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCronSchedule checks a standard 5-field cron schedule or a descriptor (@daily,
// @every 1h30m).
func checkCronSchedule(sched string) error {
	if strings.Contains(sched, "TZ") {
		return fmt.Errorf("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
	}
	if strings.HasPrefix(sched, "@") {
		if slices.Contains(supportedCronJobShortcuts, sched) {
			return nil
		}
		if d, ok := strings.CutPrefix(sched, "@every "); ok {
			dur, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return fmt.Errorf("failed to parse duration %s: %v", d, err)
			}
			if dur <= 0 {
				return fmt.Errorf("duration must be positive: %s", d)
			}
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", sched)
	}
	fields := strings.Fields(sched)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), sched)
	}
	for i, f := range fields {
		cf := cronFields[i]
		value := func(s string) (int, error) {
			if j := slices.Index(cf.names, strings.ToLower(s)); j >= 0 {
				return j + cf.lo, nil
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return 0, fmt.Errorf("failed to parse %s %q", cf.name, s)
			}
			if n < cf.lo || n > cf.hi {
				return 0, fmt.Errorf("%s %d out of range [%d, %d]", cf.name, n, cf.lo, cf.hi)
			}
			return n, nil
		}
		for _, item := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(item, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 {
					return fmt.Errorf("invalid step %q in %s", step, cf.name)
				}
			}
			if rng == "*" || rng == "?" {
				continue
			}
			lo, hi, isRange := strings.Cut(rng, "-")
			a, err := value(lo)
			if err != nil {
				return err
			}
			if isRange {
				b, err := value(hi)
				if err != nil {
					return err
				}
				if a > b {
					return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", a, b, item)
				}
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Services and Endpoints

func validateServiceSpec(s *orchv1.ServiceSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	typ := s.GetType()
	errs = append(errs, validateEnum(typ, supportedServiceTypes, p.Child("type"))...)
	headless := s.GetClusterIp() == "None"
	switch {
	case typ == "ExternalName":
		if s.GetExternalName() == "" {
			errs = append(errs, field.Required(p.Child("externalName"), ""))
		} else {
			errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(s.GetExternalName(), "."), p.Child("externalName"))...)
		}
		if s.GetClusterIp() != "" {
			errs = append(errs, field.Forbidden(p.Child("clusterIP"), "may not be set for ExternalName services"))
		}
	case s.GetClusterIp() != "" && !headless:
		errs = append(errs, validation.IsValidIP(p.Child("clusterIP"), s.GetClusterIp())...)
	}
	if headless && typ != "ClusterIP" && typ != "" {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), s.GetClusterIp(), "may not be set to 'None' for "+typ+" services"))
	}
	pp := p.Child("ports")
	if len(s.GetPorts()) == 0 && typ != "ExternalName" && !headless {
		errs = append(errs, field.Required(pp, ""))
	}
	names := map[string]bool{}
	seen := map[string]bool{}
	nodePorts := map[string]bool{}
	for i, port := range s.GetPorts() {
		ip := pp.Index(i)
		switch {
		case port.GetName() == "" && len(s.GetPorts()) > 1:
			errs = append(errs, field.Required(ip.Child("name"), ""))
		case port.GetName() != "":
			errs = append(errs, validateDNS1123Label(port.GetName(), ip.Child("name"))...)
			if names[port.GetName()] {
				errs = append(errs, field.Duplicate(ip.Child("name"), port.GetName()))
			}
			names[port.GetName()] = true
		}
		for _, msg := range validation.IsValidPortNum(int(port.GetPort())) {
			errs = append(errs, field.Invalid(ip.Child("port"), port.GetPort(), msg))
		}
		errs = append(errs, validateProtocol(port.GetProtocol(), ip.Child("protocol"))...)
		if key := fmt.Sprintf("%d/%s", port.GetPort(), port.GetProtocol()); seen[key] {
			errs = append(errs, field.Duplicate(ip, key))
		} else {
			seen[key] = true
		}
		if port.GetTargetPort() != nil {
			errs = append(errs, validatePortNumOrName(port.GetTargetPort(), ip.Child("targetPort"))...)
		}
		if np := port.GetNodePort(); np != 0 {
			npp := ip.Child("nodePort")
			if typ != "NodePort" && typ != "LoadBalancer" {
				errs = append(errs, field.Forbidden(npp, fmt.Sprintf("may not be used when `type` is '%s'", typ)))
			} else if np < 30000 || np > 32767 {
				errs = append(errs, field.Invalid(npp, np, "provided port is not in the valid range. The range of valid ports is 30000-32767"))
			} else if key := fmt.Sprintf("%d/%s", np, port.GetProtocol()); nodePorts[key] {
				errs = append(errs, field.Duplicate(npp, key))
			} else {
				nodePorts[key] = true
			}
		}
	}
	errs = append(errs, validateLabels(s.GetSelector(), p.Child("selector"))...)
	errs = append(errs, validateOptEnum(s.GetSessionAffinity(), []string{"None", "ClientIP"}, p.Child("sessionAffinity"))...)
	errs = append(errs, validateOptEnum(s.GetExternalTrafficPolicy(), []string{"Cluster", "Local"}, p.Child("externalTrafficPolicy"))...)
	if s.InternalTrafficPolicy != nil {
		errs = append(errs, validateEnum(s.GetInternalTrafficPolicy(), []string{"Cluster", "Local"}, p.Child("internalTrafficPolicy"))...)
	}
	for i, ip := range s.GetExternalIps() {
		errs = append(errs, validation.IsValidIP(p.Child("externalIPs").Index(i), ip)...)
	}
	for i, r := range s.GetLoadBalancerSourceRanges() {
		errs = append(errs, validation.IsValidCIDR(p.Child("loadBalancerSourceRanges").Index(i), r)...)
	}
	return errs
}

func validateEndpoints(e *orchv1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range e.GetSubsets() {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.GetAddresses()) == 0 && len(ss.GetNotReadyAddresses()) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		addrs := func(list []*orchv1.EndpointAddress, ap *field.Path) {
			for j, a := range list {
				jp := ap.Index(j)
				errs = append(errs, validation.IsValidIP(jp.Child("ip"), a.GetIp())...)
				if a.GetHostname() != "" {
					errs = append(errs, validateDNS1123Label(a.GetHostname(), jp.Child("hostname"))...)
				}
				if a.NodeName != nil {
					errs = append(errs, validateDNS1123Subdomain(a.GetNodeName(), jp.Child("nodeName"))...)
				}
			}
		}
		addrs(ss.GetAddresses(), sp.Child("addresses"))
		addrs(ss.GetNotReadyAddresses(), sp.Child("notReadyAddresses"))
		names := map[string]bool{}
		for j, port := range ss.GetPorts() {
			pp := sp.Child("ports").Index(j)
			switch {
			case port.GetName() == "" && len(ss.GetPorts()) > 1:
				errs = append(errs, field.Required(pp.Child("name"), ""))
			case port.GetName() != "":
				errs = append(errs, validateDNS1123Label(port.GetName(), pp.Child("name"))...)
				if names[port.GetName()] {
					errs = append(errs, field.Duplicate(pp.Child("name"), port.GetName()))
				}
				names[port.GetName()] = true
			}
			for _, msg := range validation.IsValidPortNum(int(port.GetPort())) {
				errs = append(errs, field.Invalid(pp.Child("port"), port.GetPort(), msg))
			}
			errs = append(errs, validateProtocol(port.GetProtocol(), pp.Child("protocol"))...)
		}
	}
	return errs
}

// ---------------------------------------------------------------------------------------------
// ConfigMap, Secret

func validateDataKeys[V any](data map[string]V, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedMapKeys(data) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
	}
	return errs
}

func validateConfigMap(c *orchv1.ConfigMap) field.ErrorList {
	dp, bp := field.NewPath("data"), field.NewPath("binaryData")
	errs := validateDataKeys(c.GetData(), dp)
	errs = append(errs, validateDataKeys(c.GetBinaryData(), bp)...)
	size := 0
	for _, k := range sortedMapKeys(c.GetData()) {
		size += len(c.GetData()[k])
		if _, ok := c.GetBinaryData()[k]; ok {
			errs = append(errs, field.Invalid(dp.Key(k), k, "duplicate of key present in binaryData"))
		}
	}
	for _, k := range sortedMapKeys(c.GetBinaryData()) {
		size += len(c.GetBinaryData()[k])
		if _, ok := c.GetData()[k]; ok {
			errs = append(errs, field.Invalid(bp.Key(k), k, "duplicate of key present in data"))
		}
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dp, "", maxDataSize))
	}
	return errs
}

func validateSecret(s *orchv1.Secret) field.ErrorList {
	dp := field.NewPath("data")
	errs := validateDataKeys(s.GetData(), dp)
	size := 0
	for _, v := range s.GetData() {
		size += len(v)
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dp, "", maxDataSize))
	}
	require := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.GetData()[k]; !ok {
				errs = append(errs, field.Required(dp.Key(k), ""))
			}
		}
	}
	switch s.GetType() {
	case "":
		errs = append(errs, field.Required(field.NewPath("type"), ""))
	case "kubernetes.io/tls":
		require("tls.crt", "tls.key")
	case "kubernetes.io/dockerconfigjson":
		require(".dockerconfigjson")
	case "kubernetes.io/dockercfg":
		require(".dockercfg")
	case "kubernetes.io/ssh-auth":
		require("ssh-privatekey")
	case "kubernetes.io/basic-auth":
		_, u := s.GetData()["username"]
		_, pw := s.GetData()["password"]
		if !u && !pw {
			require("username", "password")
		}
	case "kubernetes.io/service-account-token":
		if s.GetMetadata().GetAnnotations()["kubernetes.io/service-account.name"] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key("kubernetes.io/service-account.name"), ""))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------------------------
// Cluster objects: Node, PersistentVolume, PersistentVolumeClaim, Event

func validateNode(n *orchv1.Node) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	s := n.GetSpec()
	if s.GetPodCidr() != "" {
		errs = append(errs, validation.IsValidCIDR(sp.Child("podCIDR"), s.GetPodCidr())...)
	}
	for i, c := range s.GetPodCidrs() {
		errs = append(errs, validation.IsValidCIDR(sp.Child("podCIDRs").Index(i), c)...)
	}
	seen := map[string]bool{}
	for i, t := range s.GetTaints() {
		tp := sp.Child("taints").Index(i)
		if t.GetKey() == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		} else {
			errs = append(errs, validateQualifiedName(t.GetKey(), tp.Child("key"))...)
		}
		for _, msg := range validation.IsValidLabelValue(t.GetValue()) {
			errs = append(errs, field.Invalid(tp.Child("value"), t.GetValue(), msg))
		}
		errs = append(errs, validateEnum(t.GetEffect(), supportedTaintEffects, tp.Child("effect"))...)
		key := t.GetKey() + ":" + t.GetEffect()
		if seen[key] {
			errs = append(errs, field.Duplicate(tp, key))
		}
		seen[key] = true
	}
	stp := field.NewPath("status")
	known := []string{"cpu", "memory", "ephemeral-storage", "pods"}
	_, cErrs := validateResourceList(n.GetStatus().GetCapacity(), known, stp.Child("capacity"))
	_, aErrs := validateResourceList(n.GetStatus().GetAllocatable(), known, stp.Child("allocatable"))
	return append(append(errs, cErrs...), aErrs...)
}

func validateAccessModes(modes []string, p *field.Path, detail string) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(p, detail)}
	}
	var errs field.ErrorList
	for _, m := range modes {
		if !slices.Contains(supportedAccessModes, m) {
			errs = append(errs, field.NotSupported(p, m, supportedAccessModes))
		}
	}
	if slices.Contains(modes, "ReadWriteOncePod") && len(modes) > 1 {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePVSpec(s *orchv1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(s.GetAccessModes(), p.Child("accessModes"), "")
	cp := p.Child("capacity")
	if len(s.GetCapacity()) == 0 {
		errs = append(errs, field.Required(cp, ""))
	} else if _, ok := s.GetCapacity()["storage"]; !ok || len(s.GetCapacity()) > 1 {
		errs = append(errs, field.NotSupported(cp, strings.Join(sortedMapKeys(s.GetCapacity()), ","), []string{"storage"}))
	} else {
		_, qErrs := validateQuantity(s.GetCapacity()["storage"], cp.Key("storage"))
		errs = append(errs, qErrs...)
	}
	errs = append(errs, validateOptEnum(s.GetPersistentVolumeReclaimPolicy(), []string{"Retain", "Delete", "Recycle"}, p.Child("persistentVolumeReclaimPolicy"))...)
	if s.VolumeMode != nil {
		errs = append(errs, validateEnum(s.GetVolumeMode(), supportedVolumeModes, p.Child("volumeMode"))...)
	}
	if s.GetStorageClassName() != "" {
		errs = append(errs, validateDNS1123Subdomain(s.GetStorageClassName(), p.Child("storageClassName"))...)
	}
	n := 0
	one := func(set bool, name string) bool {
		if !set {
			return false
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
			return false
		}
		return true
	}
	if one(s.GetHostPath() != nil, "hostPath") {
		errs = append(errs, validateHostPath(s.GetHostPath(), p.Child("hostPath"))...)
	}
	if one(s.GetLocal() != nil, "local") {
		errs = append(errs, validateAbsPath(s.GetLocal().GetPath(), p.Child("local", "path"))...)
		if s.GetNodeAffinity() == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	if one(s.GetNfs() != nil, "nfs") {
		errs = append(errs, validateNFS(s.GetNfs(), p.Child("nfs"))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	if na := s.GetNodeAffinity(); na != nil {
		if na.GetRequired() == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity", "required"), ""))
		} else {
			errs = append(errs, validateNodeSelector(na.GetRequired(), p.Child("nodeAffinity", "required"))...)
		}
	}
	return errs
}

// validatePVCSpec checks a PersistentVolumeClaimSpec (of a claim or a claim template).
func validatePVCSpec(s *orchv1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(s.GetAccessModes(), p.Child("accessModes"), "at least 1 access mode is required")
	errs = append(errs, validateLabelSelector(s.GetSelector(), p.Child("selector"))...)
	rp := p.Child("resources")
	known := []string{"storage"}
	_, lErrs := validateResourceList(s.GetResources().GetLimits(), known, rp.Child("limits"))
	requests, qErrs := validateResourceList(s.GetResources().GetRequests(), known, rp.Child("requests"))
	errs = append(append(errs, lErrs...), qErrs...)
	if _, ok := s.GetResources().GetRequests()["storage"]; !ok {
		errs = append(errs, field.Required(rp.Key("storage"), ""))
	} else if q, ok := requests["storage"]; ok && q.Sign() <= 0 {
		errs = append(errs, field.Invalid(rp.Key("storage"), q.String(), "must be greater than zero"))
	}
	if s.VolumeMode != nil {
		errs = append(errs, validateEnum(s.GetVolumeMode(), supportedVolumeModes, p.Child("volumeMode"))...)
	}
	if sc := s.GetStorageClassName(); sc != "" {
		errs = append(errs, validateDNS1123Subdomain(sc, p.Child("storageClassName"))...)
	}
	return errs
}

func validateEvent(e *orchv1.Event) field.ErrorList {
	var errs field.ErrorList
	ip := field.NewPath("involvedObject")
	io := e.GetInvolvedObject()
	if io == nil {
		return field.ErrorList{field.Required(ip, "")}
	}
	if io.GetKind() == "" {
		errs = append(errs, field.Required(ip.Child("kind"), ""))
	}
	if io.GetName() == "" {
		errs = append(errs, field.Required(ip.Child("name"), ""))
	}
	if ns := io.GetNamespace(); ns != "" && ns != e.GetMetadata().GetNamespace() {
		errs = append(errs, field.Invalid(ip.Child("namespace"), ns, "does not match event.namespace"))
	}
	return errs
}

// ---------------------------------------------------------------------------------------------
// HorizontalPodAutoscaler

func validateHPASpec(s *orchv1.HorizontalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.MinReplicas != nil {
		errs = append(errs, validateAtLeast(int64(s.GetMinReplicas()), 1, p.Child("minReplicas"))...)
	}
	if s.GetMaxReplicas() < 1 {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.GetMaxReplicas(), "must be greater than 0"))
	} else if s.MinReplicas != nil && s.GetMaxReplicas() < s.GetMinReplicas() {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.GetMaxReplicas(), "must be greater than or equal to `minReplicas`"))
	}
	errs = append(errs, validateCrossVersionRef(s.GetScaleTargetRef(), p.Child("scaleTargetRef"))...)
	for i, m := range s.GetMetrics() {
		errs = append(errs, validateMetricSpec(m, p.Child("metrics").Index(i))...)
	}
	if b := s.GetBehavior(); b != nil {
		bp := p.Child("behavior")
		errs = append(errs, validateScalingRules(b.GetScaleUp(), bp.Child("scaleUp"))...)
		errs = append(errs, validateScalingRules(b.GetScaleDown(), bp.Child("scaleDown"))...)
	}
	return errs
}

func validateCrossVersionRef(r *orchv1.CrossVersionObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.GetKind() == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		for _, msg := range pathvalidation.IsValidPathSegmentName(r.GetKind()) {
			errs = append(errs, field.Invalid(p.Child("kind"), r.GetKind(), msg))
		}
	}
	if r.GetName() == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range pathvalidation.IsValidPathSegmentName(r.GetName()) {
			errs = append(errs, field.Invalid(p.Child("name"), r.GetName(), msg))
		}
	}
	return errs
}

func validateMetricSpec(m *orchv1.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sources := []struct {
		name string
		typ  string
		set  bool
	}{
		{"object", "Object", m.GetObject() != nil},
		{"pods", "Pods", m.GetPods() != nil},
		{"resource", "Resource", m.GetResource() != nil},
		{"containerResource", "ContainerResource", m.GetContainerResource() != nil},
		{"external", "External", m.GetExternal() != nil},
	}
	types := make([]string, len(sources))
	for i, s := range sources {
		types[i] = s.typ
	}
	tp := p.Child("type")
	if m.GetType() == "" {
		return field.ErrorList{field.Required(tp, "must specify a metric source type")}
	}
	if !slices.Contains(types, m.GetType()) {
		return field.ErrorList{field.NotSupported(tp, m.GetType(), types)}
	}
	for _, s := range sources {
		switch {
		case s.typ == m.GetType() && !s.set:
			errs = append(errs, field.Required(p.Child(s.name), "must populate information for the given metric source"))
		case s.typ != m.GetType() && s.set:
			errs = append(errs, field.Forbidden(p.Child(s.name), "must populate the given metric source only"))
		}
	}
	metricName := func(id *orchv1.MetricIdentifier, ip *field.Path) {
		if id.GetName() == "" {
			errs = append(errs, field.Required(ip.Child("name"), "must specify a metric name"))
		}
		errs = append(errs, validateLabelSelector(id.GetSelector(), ip.Child("selector"))...)
	}
	switch m.GetType() {
	case "Object":
		op := p.Child("object")
		errs = append(errs, validateCrossVersionRef(m.GetObject().GetDescribedObject(), op.Child("describedObject"))...)
		metricName(m.GetObject().GetMetric(), op.Child("metric"))
		errs = append(errs, validateMetricTarget(m.GetObject().GetTarget(), op.Child("target"), []string{"Value", "AverageValue"})...)
	case "Pods":
		pp := p.Child("pods")
		metricName(m.GetPods().GetMetric(), pp.Child("metric"))
		errs = append(errs, validateMetricTarget(m.GetPods().GetTarget(), pp.Child("target"), []string{"AverageValue"})...)
	case "Resource":
		rp := p.Child("resource")
		if m.GetResource().GetName() == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		errs = append(errs, validateMetricTarget(m.GetResource().GetTarget(), rp.Child("target"), []string{"Utilization", "AverageValue"})...)
	case "ContainerResource":
		cp := p.Child("containerResource")
		if m.GetContainerResource().GetName() == "" {
			errs = append(errs, field.Required(cp.Child("name"), "must specify a resource name"))
		}
		if m.GetContainerResource().GetContainer() == "" {
			errs = append(errs, field.Required(cp.Child("container"), "must specify a container"))
		} else {
			errs = append(errs, validateDNS1123Label(m.GetContainerResource().GetContainer(), cp.Child("container"))...)
		}
		errs = append(errs, validateMetricTarget(m.GetContainerResource().GetTarget(), cp.Child("target"), []string{"Utilization", "AverageValue"})...)
	case "External":
		ep := p.Child("external")
		metricName(m.GetExternal().GetMetric(), ep.Child("metric"))
		errs = append(errs, validateMetricTarget(m.GetExternal().GetTarget(), ep.Child("target"), []string{"Value", "AverageValue"})...)
	}
	return errs
}

func validateMetricTarget(t *orchv1.MetricTarget, p *field.Path, allowed []string) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if t.GetType() == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	} else if !slices.Contains([]string{"Utilization", "Value", "AverageValue"}, t.GetType()) {
		errs = append(errs, field.NotSupported(p.Child("type"), t.GetType(), []string{"Utilization", "Value", "AverageValue"}))
	} else if !slices.Contains(allowed, t.GetType()) {
		errs = append(errs, field.NotSupported(p.Child("type"), t.GetType(), allowed))
	}
	positive := func(v string, fp *field.Path) {
		q, qErrs := validateQuantity(v, fp)
		errs = append(errs, qErrs...)
		if len(qErrs) == 0 && q.Sign() <= 0 {
			errs = append(errs, field.Invalid(fp, v, "must be positive"))
		}
	}
	if t.GetValue() != "" {
		positive(t.GetValue(), p.Child("value"))
	}
	if t.GetAverageValue() != "" {
		positive(t.GetAverageValue(), p.Child("averageValue"))
	}
	if t.AverageUtilization != nil && t.GetAverageUtilization() < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), t.GetAverageUtilization(), "must be greater than 0"))
	}
	switch t.GetType() {
	case "Utilization":
		if t.AverageUtilization == nil {
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must set averageUtilization when type is Utilization"))
		}
	case "Value":
		if t.GetValue() == "" {
			errs = append(errs, field.Required(p.Child("value"), "must set value when type is Value"))
		}
	case "AverageValue":
		if t.GetAverageValue() == "" {
			errs = append(errs, field.Required(p.Child("averageValue"), "must set averageValue when type is AverageValue"))
		}
	}
	return errs
}

func validateScalingRules(r *orchv1.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be in the range 0-3600"))
	}
	if r.SelectPolicy != nil {
		errs = append(errs, validateEnum(r.GetSelectPolicy(), []string{"Max", "Min", "Disabled"}, p.Child("selectPolicy"))...)
	}
	for i, pol := range r.GetPolicies() {
		pp := p.Child("policies").Index(i)
		errs = append(errs, validateEnum(pol.GetType(), []string{"Pods", "Percent"}, pp.Child("type"))...)
		if pol.GetValue() <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.GetValue(), "must be greater than zero"))
		}
		if ps := pol.GetPeriodSeconds(); ps <= 0 || ps > 1800 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), ps, "must be in the range 1-1800"))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------------------------
// RBAC

func validatePolicyRules(rules []*orchv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		rp := field.NewPath("rules").Index(i)
		if len(r.GetVerbs()) == 0 {
			errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.GetNonResourceUrls()) > 0 {
			up := rp.Child("nonResourceURLs")
			if namespaced {
				errs = append(errs, field.Invalid(up, r.GetNonResourceUrls(), "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.GetApiGroups())+len(r.GetResources())+len(r.GetResourceNames()) > 0 {
				errs = append(errs, field.Invalid(up, r.GetNonResourceUrls(), "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.GetApiGroups()) == 0 {
			errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.GetResources()) == 0 {
			errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func validateBinding(ref *orchv1.RoleRef, subjects []*orchv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	if ref.GetApiGroup() != rbacGroup {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.GetApiGroup(), []string{rbacGroup}))
	}
	kinds := []string{"Role", "ClusterRole"}
	if !namespaced {
		kinds = []string{"ClusterRole"}
	}
	if !slices.Contains(kinds, ref.GetKind()) {
		errs = append(errs, field.NotSupported(rp.Child("kind"), ref.GetKind(), kinds))
	}
	if ref.GetName() == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else {
		for _, msg := range pathvalidation.IsValidPathSegmentName(ref.GetName()) {
			errs = append(errs, field.Invalid(rp.Child("name"), ref.GetName(), msg))
		}
	}
	for i, s := range subjects {
		sp := field.NewPath("subjects").Index(i)
		if s.GetName() == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		}
		switch s.GetKind() {
		case "ServiceAccount":
			if s.GetName() != "" {
				errs = append(errs, validateDNS1123Subdomain(s.GetName(), sp.Child("name"))...)
			}
			if s.GetApiGroup() != "" {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.GetApiGroup(), []string{""}))
			}
			if !namespaced && s.GetNamespace() == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), ""))
			}
		case "User", "Group":
			if s.GetApiGroup() != rbacGroup {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.GetApiGroup(), []string{rbacGroup}))
			}
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.GetKind(), []string{"ServiceAccount", "User", "Group"}))
		}
	}
	return errs
}
