package api

import "slices"

// Deletion propagation policies (metav1.DeletionPropagation) and the finalizers that
// carry them, and the namespace lifecycle, as Kubernetes names them.
const (
	// DeletePropagationBackground deletes the object at once; the garbage collector
	// deletes its dependents after it. The default.
	DeletePropagationBackground = "Background"
	// DeletePropagationForeground keeps the object, with a deletionTimestamp and the
	// foregroundDeletion finalizer, until its dependents with blockOwnerDeletion are gone.
	DeletePropagationForeground = "Foreground"
	// DeletePropagationOrphan removes the dependents' ownerReferences to the object
	// (the orphan finalizer), then the object; the dependents stay.
	DeletePropagationOrphan = "Orphan"

	FinalizerOrphanDependents = "orphan"
	FinalizerDeleteDependents = "foregroundDeletion"

	// FinalizerKubernetes, in a namespace's spec.finalizers, holds it until the namespace
	// controller has deleted everything in it.
	FinalizerKubernetes = "kubernetes"

	NamespaceActive      = "Active"
	NamespaceTerminating = "Terminating"

	// Namespace condition types while it terminates, with their reasons.
	NamespaceDeletionDiscoveryFailure          = "NamespaceDeletionDiscoveryFailure"
	NamespaceDeletionGVParsingFailure          = "NamespaceDeletionGroupVersionParsingFailure"
	NamespaceDeletionContentFailure            = "NamespaceDeletionContentFailure"
	NamespaceContentRemaining                  = "NamespaceContentRemaining"
	NamespaceFinalizersRemaining               = "NamespaceFinalizersRemaining"
	NamespaceReasonResourcesDiscovered         = "ResourcesDiscovered"
	NamespaceReasonParsedGroupVersions         = "ParsedGroupVersions"
	NamespaceReasonContentDeleted              = "ContentDeleted"
	NamespaceReasonContentDeletionFailed       = "ContentDeletionFailed"
	NamespaceReasonContentRemoved              = "ContentRemoved"
	NamespaceReasonSomeResourcesRemain         = "SomeResourcesRemain"
	NamespaceReasonContentHasNoFinalizers      = "ContentHasNoFinalizers"
	NamespaceReasonSomeFinalizersRemain        = "SomeFinalizersRemain"
	NamespaceMessageResourcesDiscovered        = "All resources successfully discovered"
	NamespaceMessageParsedGroupVersions        = "All legacy kube types successfully parsed"
	NamespaceMessageContentDeleted             = "All content successfully deleted, may be waiting on finalization"
	NamespaceMessageContentRemoved             = "All content successfully removed"
	NamespaceMessageContentHasNoFinalizers     = "All content-preserving finalizers finished"
	NamespaceForbiddenTerminatingMessageFormat = "unable to create new content in namespace %s because it is being terminated"
)

// ValidPropagationPolicy reports whether p is a policy a delete request may name ("" is
// the default).
func ValidPropagationPolicy(p string) bool {
	return p == "" || p == DeletePropagationBackground || p == DeletePropagationForeground || p == DeletePropagationOrphan
}

// HasFinalizer reports whether o carries finalizer f in metadata.finalizers.
func HasFinalizer(o Object, f string) bool {
	return slices.Contains(o.GetMetadata().GetFinalizers(), f)
}
