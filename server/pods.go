package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"connectrpc.com/connect"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
)

// podService adds the pod subresources, logs and exec, which the master relays to the
// agent of the pod's node.
type podService struct {
	*kindService[orchv1.Pod, orchv1.PodList, orchv1.PodWatchEvent]
}

// agentClient finds the pod and the agent API of its node.
func (s *podService) agentClient(ctx context.Context, ns, name string) (*orchv1.Pod, orchv1connect.AgentServiceClient, error) {
	o, err := s.api.Get(ctx, api.PodKind, &orchv1.GetRequest{Namespace: ns, Name: name})
	if err != nil {
		return nil, nil, err
	}
	p := o.(*orchv1.Pod)
	nodeName := p.GetSpec().GetNodeName()
	if nodeName == "" {
		return nil, nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("pod %q is not scheduled to a node yet", name))
	}
	no, err := s.api.Get(ctx, api.NodeKind, &orchv1.GetRequest{Name: nodeName, Stale: true})
	if err != nil {
		return nil, nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %q of pod %q: %w", nodeName, name, err))
	}
	addr := agentAddress(no.(*orchv1.Node))
	if addr == "" {
		return nil, nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %q has no agent address", nodeName))
	}
	return p, orchv1connect.NewAgentServiceClient(s.api.http, "http://"+addr), nil
}

// agentAddress is InternalIP:kubeletEndpoint.Port of a node.
func agentAddress(n *orchv1.Node) string {
	port := n.GetStatus().GetDaemonEndpoints().GetKubeletEndpoint().GetPort()
	if port == 0 {
		return ""
	}
	for _, a := range n.GetStatus().GetAddresses() {
		if a.GetType() == "InternalIP" {
			return net.JoinHostPort(a.GetAddress(), strconv.Itoa(int(port)))
		}
	}
	return ""
}

func (s *podService) Logs(ctx context.Context, r *connect.Request[orchv1.PodLogsRequest], st *connect.ServerStream[orchv1.PodLogsResponse]) error {
	p, ac, err := s.agentClient(ctx, r.Msg.GetNamespace(), r.Msg.GetName())
	if err != nil {
		return err
	}
	req := r.Msg
	req.Namespace, req.PodUid = p.GetMetadata().GetNamespace(), p.GetMetadata().GetUid()
	in, err := ac.Logs(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer in.Close()
	for in.Receive() {
		if err := st.Send(in.Msg()); err != nil {
			return err
		}
	}
	return in.Err()
}

func (s *podService) Exec(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	return s.relayStream(ctx, st, func(first *orchv1.PodExecRequest) error {
		if len(first.GetCommand()) == 0 {
			return invalid("command: Required value")
		}
		return nil
	}, orchv1connect.AgentServiceClient.Exec)
}

// Attach relays an attach session to the agent of the pod's node.
func (s *podService) Attach(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	return s.relayStream(ctx, st, func(first *orchv1.PodExecRequest) error {
		if len(first.GetCommand()) != 0 {
			return invalid("command: Forbidden: attach joins the container's own process; use exec to run a command")
		}
		return nil
	}, orchv1connect.AgentServiceClient.Attach)
}

// relayStream relays an exec-style session between the client and the agent of the
// pod's node, message by message in both directions; it knows nothing of what the
// messages mean beyond the first one's pod.
func (s *podService) relayStream(ctx context.Context, st *connect.BidiStream[orchv1.PodExecRequest, orchv1.PodExecResponse],
	check func(*orchv1.PodExecRequest) error,
	open func(orchv1connect.AgentServiceClient, context.Context) *connect.BidiStreamForClient[orchv1.PodExecRequest, orchv1.PodExecResponse]) error {
	first, err := st.Receive()
	if err != nil {
		return err
	}
	if err := check(first); err != nil {
		return err
	}
	p, ac, err := s.agentClient(ctx, first.GetNamespace(), first.GetName())
	if err != nil {
		return err
	}
	first.Namespace, first.PodUid = p.GetMetadata().GetNamespace(), p.GetMetadata().GetUid()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := open(ac, ctx)
	if err := out.Send(first); err != nil {
		return err
	}
	go func() {
		for {
			m, err := st.Receive()
			if err != nil {
				out.CloseRequest()
				return
			}
			if err := out.Send(m); err != nil {
				return
			}
		}
	}()
	defer out.CloseResponse()
	for {
		m, err := out.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
}
