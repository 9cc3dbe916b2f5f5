// Package cli is orchctl, the command line of orch: kubectl's commands and flags over the
// typed Connect services of the masters, manifest decoding, printers and contexts.
//
// It talks to the cluster only through the generated Connect clients (proto/gen) and the
// api kind registry; it must never import server/, node/ or consensus/.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// Version is the client version, set at build time:
// go build -ldflags "-X github.com/orchd/orch/cli.Version=v0.1.0".
var Version = "dev"

// Main runs orchctl with args (without the program name) and returns the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		for _, l := range errorLines(err) {
			fmt.Fprintln(root.ErrOrStderr(), l)
		}
		return 1
	}
	return 0
}

// env is what every command shares: the global flags and, once resolved, the clients.
type env struct {
	serverFlag     string
	contextFlag    string
	namespaceFlag  string
	requestTimeout string

	server    string
	namespace string // -n, else the context's namespace, else "default"
	timeout   time.Duration
	hc        *http.Client
	clients   map[string]KindClient

	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

// NewRootCommand builds the orchctl command tree.
func NewRootCommand() *cobra.Command {
	e := &env{}
	root := &cobra.Command{
		Use:           "orchctl",
		Short:         "orchctl controls an orch cluster",
		Long:          "orchctl controls an orch cluster, with the commands and flags of kubectl.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			e.in, e.out, e.errOut = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.serverFlag, "server", "", "address of the orch API (default: $ORCH_SERVER, else the current context of ~/.orch/config)")
	pf.StringVar(&e.contextFlag, "context", "", "the context of the config file to use")
	pf.StringVarP(&e.namespaceFlag, "namespace", "n", "", "the namespace of the request")
	pf.StringVar(&e.requestTimeout, "request-timeout", "30s", "how long to wait for a single request (0 = no limit; watches are never limited); a bare number is seconds")

	root.AddCommand(
		newApplyCommand(e),
		newCreateCommand(e),
		newGetCommand(e),
		newDescribeCommand(e),
		newDeleteCommand(e),
		newEditCommand(e),
		newScaleCommand(e),
		newRolloutCommand(e),
		newSetCommand(e),
		newMetaCommand(e, "label"),
		newMetaCommand(e, "annotate"),
		newCordonCommand(e, true),
		newCordonCommand(e, false),
		newTaintCommand(e),
		newLogsCommand(e),
		newExecCommand(e),
		newAttachCommand(e),
		newClusterCommand(e),
		newVersionCommand(e),
		newAPIResourcesCommand(e),
		newConfigCommand(e),
	)
	root.InitDefaultCompletionCmd()
	return root
}

// connect resolves the server and timeout and builds the clients; commands call it
// before their first request.
func (e *env) connect() error {
	if e.clients != nil {
		return nil
	}
	d, err := parseTimeout(e.requestTimeout)
	if err != nil {
		return err
	}
	e.timeout = d
	r, err := resolveServer(e.serverFlag, e.contextFlag, DefaultConfigPath())
	if err != nil {
		return err
	}
	e.server = r.Server
	e.namespace = r.Namespace
	if e.namespaceFlag != "" {
		e.namespace = e.namespaceFlag
	}
	e.hc = transport.Client()
	e.clients = newKindClients(e.hc, e.server)
	return nil
}

// parseTimeout reads --request-timeout: a duration, or a bare number of seconds.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid --request-timeout %q: want a duration such as 30s, or 0 for none", s)
	}
	return d, nil
}

// client returns the client of kind k, bounded by --request-timeout.
func (e *env) client(k *api.Kind) KindClient {
	return timeoutClient{KindClient: e.clients[k.Name], d: e.timeout}
}

// watchClient returns the client of kind k without a request timeout, for watches.
func (e *env) watchClient(k *api.Kind) KindClient { return e.clients[k.Name] }

// cluster returns the ClusterService client.
func (e *env) cluster() orchv1connect.ClusterServiceClient {
	return orchv1connect.NewClusterServiceClient(e.hc, e.server)
}

// reqCtx bounds one request by --request-timeout.
func (e *env) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.timeout)
}

// nsFor is the namespace to use for kind k: "" for cluster-scoped kinds.
func (e *env) nsFor(k *api.Kind) string {
	if !k.Namespaced {
		return ""
	}
	return e.namespace
}
