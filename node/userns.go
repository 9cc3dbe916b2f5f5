package node

import (
	"errors"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// errNoUserNamespaces refuses pods with hostUsers: false. This node runs every
// container in the host's user namespace; running such a pod anyway would give its
// root the host's root, the opposite of what it asked for. The Node says so in its
// orch.dev/security annotation (userns=unsupported).
var errNoUserNamespaces = errors.New("spec.hostUsers: false asks for a user namespace, and user namespaces are not supported on this node")

// userNamespaceError refuses a pod that asks for its own user namespace.
func userNamespaceError(pod *orchv1.Pod) error {
	if hu := pod.GetSpec().HostUsers; hu != nil && !*hu {
		return errNoUserNamespaces
	}
	return nil
}
