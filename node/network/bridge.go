package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// BridgeName is the pod bridge this manager's default config uses.
func (m *Manager) BridgeName() string { return m.cfg.BridgeName }

// RemoveBridge deletes the pod bridge (after every pod is torn down); a missing bridge is
// not an error.
func RemoveBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find bridge %s: %w", name, err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s is not a bridge; leaving it alone", name)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}
