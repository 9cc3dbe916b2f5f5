package cli

import (
	"fmt"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newVersionCommand(e *env) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.out, "Client Version: %s\n", Version)
			if clientOnly {
				return nil
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx, cancel := e.reqCtx(cmd.Context())
			defer cancel()
			resp, err := e.cluster().Version(ctx, connect.NewRequest(&orchv1.VersionRequest{}))
			if err != nil {
				return e.serverError(err, "", nil, "")
			}
			fmt.Fprintf(e.out, "Server Version: %s\n", resp.Msg.GetVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client version only")
	return cmd
}

func newAPIResourcesCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "api-resources",
		Short: "List the kinds the cluster serves",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			t := Table{Headers: []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}}
			kinds := append([]*api.Kind(nil), api.Kinds...)
			sort.Slice(kinds, func(i, j int) bool { return kinds[i].Plural < kinds[j].Plural })
			for _, k := range kinds {
				t.Rows = append(t.Rows, []string{k.Plural, strings.Join(k.Short, ","), k.APIVersion, fmt.Sprint(k.Namespaced), k.Name})
			}
			return t.Write(e.out, false)
		},
	}
}

func newConfigCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show and change ~/.orch/config ($ORCH_CONFIG)"}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "get-contexts",
			Short: "List the contexts",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				c, err := LoadConfig(DefaultConfigPath())
				if err != nil {
					return err
				}
				t := Table{Headers: []string{"CURRENT", "NAME", "SERVER", "NAMESPACE"}}
				for _, x := range c.Contexts {
					cur := ""
					if x.Name == c.CurrentContext {
						cur = "*"
					}
					t.Rows = append(t.Rows, []string{cur, x.Name, x.Server, x.Namespace})
				}
				return t.Write(e.out, false)
			},
		},
		&cobra.Command{
			Use:   "use-context NAME",
			Short: "Make NAME the current context",
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				path := DefaultConfigPath()
				c, err := LoadConfig(path)
				if err != nil {
					return err
				}
				x, err := c.Context(args[0])
				if err != nil {
					return err
				}
				if err := SaveContext(path, x.Name, x.Server, true); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "Switched to context %q.\n", x.Name)
				return nil
			},
		},
		&cobra.Command{
			Use:   "set-context NAME --server URL",
			Short: "Add or change a context",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				server, _ := cmd.Flags().GetString("server")
				if server == "" {
					return fmt.Errorf("--server is required")
				}
				if err := SaveContext(DefaultConfigPath(), args[0], server, false); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "Context %q set.\n", args[0])
				return nil
			},
		},
	)
	return cmd
}
