package cli

import (
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
)

func (e *env) pods() orchv1connect.PodServiceClient {
	return orchv1connect.NewPodServiceClient(e.hc, e.server)
}

// podArg accepts "NAME" and "pod/NAME".
func podArg(s string) (string, error) {
	if k, n, ok := strings.Cut(s, "/"); ok {
		if k != "pod" && k != "pods" && k != "po" {
			return "", fmt.Errorf("only pods have logs and exec, not %q", k)
		}
		return n, nil
	}
	return s, nil
}

func newLogsCommand(e *env) *cobra.Command {
	var container string
	var follow, previous bool
	var tail int64
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the logs of a container in a pod",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.connect(); err != nil {
				return err
			}
			name, err := podArg(args[0])
			if err != nil {
				return err
			}
			req := &orchv1.PodLogsRequest{Namespace: e.namespace, Name: name, Container: container, Follow: follow, Previous: previous}
			if tail >= 0 {
				req.TailLines = &tail
			}
			ctx := cmd.Context()
			if !follow {
				var cancel func()
				ctx, cancel = e.reqCtx(ctx)
				defer cancel()
			}
			st, err := e.pods().Logs(ctx, connect.NewRequest(req))
			if err != nil {
				return e.serverError(err, "pods", nil, name)
			}
			defer st.Close()
			for st.Receive() {
				if _, err := e.out.Write(st.Msg().GetData()); err != nil {
					return err
				}
			}
			if err := st.Err(); err != nil && ctx.Err() == nil {
				return e.serverError(err, "pods", nil, name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "the container (default: the pod's only container)")
	f.BoolVarP(&follow, "follow", "f", false, "stream the log as it is written")
	f.BoolVarP(&previous, "previous", "p", false, "the log of the previous, terminated instance of the container")
	f.Int64Var(&tail, "tail", -1, "only the last lines (-1: all)")
	return cmd
}
