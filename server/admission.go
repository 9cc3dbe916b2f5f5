package server

import (
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// clusterNamespaces exist from cluster birth: the leader creates them when missing.
// orch-system goes last: a master is ready once it reads it.
var clusterNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease", "orch-system"}

// protectedNamespaces cannot be deleted, as Kubernetes refuses to delete default,
// kube-system and kube-public (kube-node-lease may go; the next leader recreates it).
var protectedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "orch-system": true}

// admitCreate decides everything about a new object before it is proposed: defaults,
// identity, timestamps, then validation. Nothing non-deterministic is left to the FSM.
func (a *API) admitCreate(k *api.Kind, o api.Object) error {
	if o == nil {
		return invalid("request: object required")
	}
	api.SetTypeMeta(k, o)
	m := api.Meta(o)
	if err := a.admitNamespace(k, o); err != nil {
		return err
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.Name = m.GetGenerateName() + utilrand.String(5)
	}
	if m.GetResourceVersion() != "" {
		return invalid("metadata.resourceVersion: Invalid value: must not be set on objects to be created")
	}
	m.Uid = uuid.NewString()
	m.CreationTimestamp = timestamppb.New(a.now().UTC().Truncate(time.Second))
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = nil, nil
	m.Generation = 1
	if ns, ok := o.(*orchv1.Namespace); ok {
		prepareNamespaceCreate(ns)
	}
	defaultObject(k, o)
	if p, ok := o.(*orchv1.Pod); ok {
		addDefaultTolerations(p.GetSpec(), a.NotReadyTolerationSeconds, a.UnreachableTolerationSeconds)
	}
	return validationError(k, validateObject(k, o))
}

// admitUpdate defaults and validates a replacement object. The server-owned metadata
// (uid, timestamps, generation) is taken from the stored object inside the FSM.
func (a *API) admitUpdate(k *api.Kind, o api.Object) error {
	if err := a.admitName(k, o); err != nil {
		return err
	}
	defaultObject(k, o)
	return validationError(k, validateObject(k, o))
}

// admitName checks that a request names an existing object's identity.
func (a *API) admitName(k *api.Kind, o api.Object) error {
	if o == nil {
		return invalid("request: object required")
	}
	api.SetTypeMeta(k, o)
	if err := a.admitNamespace(k, o); err != nil {
		return err
	}
	if api.Meta(o).GetName() == "" {
		return invalid("metadata.name: Required value: name is required")
	}
	return nil
}

func (a *API) admitNamespace(k *api.Kind, o api.Object) error {
	m := api.Meta(o)
	switch {
	case !k.Namespaced:
		m.Namespace = ""
	case m.GetNamespace() == "":
		m.Namespace = "default"
	}
	return nil
}

// validationError turns field errors into one InvalidArgument error naming every field:
// `Pod "web" is invalid: spec.containers[0].image: Required value`.
func validationError(k *api.Kind, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s is invalid: %s", k.Name, strings.Join(msgs, "; ")))
}

// addDefaultTolerations gives a new pod NoExecute tolerations of the not-ready and
// unreachable taints for the given seconds, unless it tolerates them already, as
// kube-apiserver's DefaultTolerationSeconds admission plugin does.
func addDefaultTolerations(s *orchv1.PodSpec, notReady, unreachable int64) {
	if s == nil {
		return
	}
	for _, d := range []struct {
		key  string
		secs int64
	}{{api.TaintNodeNotReady, notReady}, {api.TaintNodeUnreachable, unreachable}} {
		if d.secs <= 0 {
			continue
		}
		tolerated := false
		for _, t := range s.GetTolerations() {
			if (t.GetEffect() == "" || t.GetEffect() == "NoExecute") && (t.GetKey() == "" && t.GetOperator() == "Exists" || t.GetKey() == d.key) {
				tolerated = true
			}
		}
		if !tolerated {
			s.Tolerations = append(s.Tolerations, &orchv1.Toleration{Key: d.key, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int32(int32(d.secs))})
		}
	}
}
