package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"connectrpc.com/connect"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// ServerID reads the master's server ID from identity.json in its data dir.
func (m *Master) ServerID() (string, error) {
	b, err := os.ReadFile(filepath.Join(m.DataDir, "identity.json"))
	if err != nil {
		return "", err
	}
	var id struct {
		ServerID string `json:"serverID"`
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return "", fmt.Errorf("%s identity.json: %w", m.Name, err)
	}
	return id.ServerID, nil
}

// RaftServers asks m for the raft configuration.
func (c *Cluster) RaftServers(ctx context.Context, m *Master) ([]*orchv1.RaftServer, error) {
	cl := orchv1connect.NewClusterServiceClient(transport.Client(), m.URL())
	resp, err := cl.RaftConfiguration(ctx, connect.NewRequest(&orchv1.RaftConfigurationRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetServers(), nil
}
