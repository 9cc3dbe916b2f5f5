package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newClusterCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and manage the masters"}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "members",
			Short: "List the masters as gossip sees them",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := e.connect(); err != nil {
					return err
				}
				ctx, cancel := e.reqCtx(cmd.Context())
				defer cancel()
				resp, err := e.cluster().Members(ctx, connect.NewRequest(&orchv1.MembersRequest{}))
				if err != nil {
					return e.serverError(err, "", nil, "")
				}
				return membersTable(resp.Msg.GetMasters()).Write(e.out, false)
			},
		},
		&cobra.Command{
			Use:   "leader",
			Short: "Show the Raft leader",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := e.connect(); err != nil {
					return err
				}
				ctx, cancel := e.reqCtx(cmd.Context())
				defer cancel()
				resp, err := e.cluster().Leader(ctx, connect.NewRequest(&orchv1.LeaderRequest{}))
				if err != nil {
					return e.serverError(err, "", nil, "")
				}
				l := resp.Msg.GetLeader()
				if l == nil || l.GetName() == "" {
					return fmt.Errorf("the cluster has no leader")
				}
				fmt.Fprintf(e.out, "%s\t%s\n", l.GetName(), l.GetApiAddress())
				return nil
			},
		},
		&cobra.Command{
			Use:   "raft",
			Short: "Show the Raft configuration",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := e.connect(); err != nil {
					return err
				}
				ctx, cancel := e.reqCtx(cmd.Context())
				defer cancel()
				resp, err := e.cluster().RaftConfiguration(ctx, connect.NewRequest(&orchv1.RaftConfigurationRequest{}))
				if err != nil {
					return e.serverError(err, "", nil, "")
				}
				if err := raftTable(resp.Msg.GetServers()).Write(e.out, false); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "\nApplied index: %d\n", resp.Msg.GetAppliedIndex())
				return nil
			},
		},
		&cobra.Command{
			Use:   "remove-master NAME",
			Short: "Remove a stopped master from the Raft configuration",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := e.connect(); err != nil {
					return err
				}
				ctx, cancel := e.reqCtx(cmd.Context())
				defer cancel()
				if _, err := e.cluster().RemoveMaster(ctx, connect.NewRequest(&orchv1.RemoveMasterRequest{Name: args[0]})); err != nil {
					return e.serverError(err, "", nil, "")
				}
				fmt.Fprintf(e.out, "master %q removed\n", args[0])
				return nil
			},
		},
		newSnapshotCommand(e),
	)
	return cmd
}

func membersTable(ms []*orchv1.Master) Table {
	t := Table{Headers: []string{"NAME", "STATUS", "LEADER", "VOTER", "API-ADDRESS"}}
	for _, m := range ms {
		t.Rows = append(t.Rows, []string{m.GetName(), m.GetStatus(), strconv.FormatBool(m.GetLeader()), strconv.FormatBool(m.GetVoter()), m.GetApiAddress()})
	}
	return t
}

func raftTable(ss []*orchv1.RaftServer) Table {
	t := Table{Headers: []string{"ID", "ADDRESS", "SUFFRAGE", "LEADER"}}
	for _, s := range ss {
		t.Rows = append(t.Rows, []string{s.GetId(), s.GetAddress(), s.GetSuffrage(), strconv.FormatBool(s.GetLeader())})
	}
	return t
}

func newSnapshotCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Back up the cluster state"}
	cmd.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Save a snapshot of the whole cluster state to FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.connect(); err != nil {
				return err
			}
			// No request timeout: a large state takes a while to stream.
			stream, err := e.cluster().Snapshot(cmd.Context(), connect.NewRequest(&orchv1.SnapshotRequest{}))
			if err != nil {
				return e.serverError(err, "", nil, "")
			}
			defer stream.Close()
			n, err := saveAtomically(args[0], func(w io.Writer) (int64, error) {
				var n int64
				for stream.Receive() {
					m, err := w.Write(stream.Msg().GetData())
					n += int64(m)
					if err != nil {
						return n, err
					}
				}
				if err := stream.Err(); err != nil {
					return n, e.serverError(err, "", nil, "")
				}
				return n, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "Snapshot saved to %s (%d bytes)\n", args[0], n)
			return nil
		},
	})
	return cmd
}

// saveAtomically writes FILE.tmp with write, syncs it and renames it to FILE, so that FILE
// is either the old file or a complete new one.
func saveAtomically(path string, write func(io.Writer) (int64, error)) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return n, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}
