package server

import (
	"context"
	"slices"

	"connectrpc.com/connect"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// namespaceService adds the finalize subresource to the namespace service.
type namespaceService struct {
	*kindService[orchv1.Namespace, orchv1.NamespaceList, orchv1.NamespaceWatchEvent]
}

// Finalize replaces a namespace's spec.finalizers, which Update keeps as they are.
func (s *namespaceService) Finalize(ctx context.Context, r *connect.Request[orchv1.Namespace]) (*connect.Response[orchv1.Namespace], error) {
	o, err := s.api.Finalize(ctx, r.Msg)
	return respond[orchv1.Namespace](o, err)
}

// Finalize writes spec.finalizers of a namespace and nothing else (Kubernetes'
// namespaces/{name}/finalize). A namespace being deleted goes once its last one is gone.
func (a *API) Finalize(ctx context.Context, ns *orchv1.Namespace) (api.Object, error) {
	if err := a.admitName(api.NamespaceKind, ns); err != nil {
		return nil, err
	}
	var errs field.ErrorList
	for i, f := range ns.GetSpec().GetFinalizers() {
		errs = append(errs, validateQualifiedName(f, field.NewPath("spec", "finalizers").Index(i))...)
	}
	if err := validationError(api.NamespaceKind, errs); err != nil {
		return nil, err
	}
	return a.write(ctx, FinalizeCommand, api.NamespaceKind, ns)
}

// prepareNamespaceCreate is what Kubernetes' namespace strategy decides on create: the
// namespace is Active and carries the kubernetes finalizer, whatever the request said.
func prepareNamespaceCreate(ns *orchv1.Namespace) {
	if ns.Spec == nil {
		ns.Spec = &orchv1.NamespaceSpec{}
	}
	if !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, api.FinalizerKubernetes)
	}
	ns.Status = &orchv1.NamespaceStatus{Phase: api.NamespaceActive}
}
