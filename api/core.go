package api

import orchv1 "github.com/orchd/orch/proto/gen/orch/v1"

// Pod phases, condition types and defaults, as Kubernetes names them: one place for the
// server, the scheduler, the agent and the CLI.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"

	PodScheduled   = "PodScheduled"
	PodReady       = "Ready"
	NodeReady      = "Ready"
	ConditionTrue  = "True"
	ConditionFalse = "False"

	// DefaultTerminationGracePeriodSeconds is a pod's grace period when it sets none.
	DefaultTerminationGracePeriodSeconds int64 = 30
)

// PodTerminal reports whether a pod has finished: Succeeded or Failed.
func PodTerminal(p *orchv1.Pod) bool {
	ph := p.GetStatus().GetPhase()
	return ph == PodSucceeded || ph == PodFailed
}

// PodGracePeriodSeconds is the pod's termination grace period, or the default.
func PodGracePeriodSeconds(p *orchv1.Pod) int64 {
	if g := p.GetSpec().TerminationGracePeriodSeconds; g != nil {
		return int64(*g)
	}
	return DefaultTerminationGracePeriodSeconds
}
