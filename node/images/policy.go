package images

import (
	"errors"
	"fmt"
	"strings"
)

// Pull policies, as in a container's imagePullPolicy.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// ErrNeverPull is returned when the policy is Never and the image is absent
// (Kubernetes' ErrImageNeverPull).
var ErrNeverPull = errors.New("image is not present and the pull policy is Never")

// DefaultPullPolicy is Kubernetes' default: Always for a ":latest" or
// untagged reference, IfNotPresent otherwise.
func DefaultPullPolicy(ref string) string {
	if strings.Contains(ref, "@") {
		return PullIfNotPresent
	}
	slash := strings.LastIndexByte(ref, '/')
	colon := strings.LastIndexByte(ref, ':')
	if colon <= slash || ref[colon+1:] == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// PullPolicyAllows decides whether the agent pulls: pull reports whether to
// contact the registry; err is ErrNeverPull (wrapped with ref) when the
// image may not be pulled and is absent. An empty policy means
// DefaultPullPolicy(ref).
func PullPolicyAllows(policy, ref string, present bool) (pull bool, err error) {
	if policy == "" {
		policy = DefaultPullPolicy(ref)
	}
	switch policy {
	case PullAlways:
		return true, nil
	case PullIfNotPresent:
		return !present, nil
	case PullNever:
		if present {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", ref, ErrNeverPull)
	}
	return false, fmt.Errorf("unknown imagePullPolicy %q (want Always, IfNotPresent or Never)", policy)
}
