package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orchd/orch/e2e/harness"
)

// etcdCluster is a 3-member etcd (Debian's etcd-server) on loopback: the peer that
// orch's Raft writes are compared with, on the same disk in the same run.
type etcdCluster struct {
	clients []string
	procs   []*exec.Cmd
}

const etcdBinary = "/usr/bin/etcd"

func startEtcd(dir string) (*etcdCluster, error) {
	if _, err := os.Stat(etcdBinary); err != nil {
		return nil, fmt.Errorf("%s missing (apt-get install etcd-server; make bench does it)", etcdBinary)
	}
	var peers, clients, peerURLs []string
	for range 3 {
		c, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		clients, peerURLs = append(clients, "http://"+c), append(peerURLs, "http://"+p)
	}
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("e%d=%s", i, peerURLs[i]))
	}
	e := &etcdCluster{clients: clients}
	for i := range 3 {
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("etcd-%d.log", i)))
		if err != nil {
			e.close()
			return nil, err
		}
		cmd := exec.Command(etcdBinary, "--name", fmt.Sprintf("e%d", i), "--data-dir", filepath.Join(dir, fmt.Sprintf("etcd-%d", i)),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new", "--initial-cluster-token", "orch-bench")
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			e.close()
			return nil, err
		}
		e.procs = append(e.procs, cmd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range clients {
		for {
			if err := etcdPut(http.DefaultClient, c, "health", "x"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				e.close()
				return nil, fmt.Errorf("etcd at %s not ready", c)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return e, nil
}

func (e *etcdCluster) close() {
	for _, p := range e.procs {
		p.Process.Kill()
		p.Wait()
	}
}

// etcdPut writes through etcd's JSON gateway (v3 API), so no etcd client library is needed.
func etcdPut(hc *http.Client, base, key, value string) error {
	body, _ := json.Marshal(map[string]string{
		"key": base64.StdEncoding.EncodeToString([]byte(key)), "value": base64.StdEncoding.EncodeToString([]byte(value))})
	resp, err := hc.Post(base+"/v3/kv/put", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd put: %s", resp.Status)
	}
	return nil
}

func etcdPutBench(e *etcdCluster, clients int, d time.Duration, value, prefix string) result {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	r := writeLoad(clients, d, func(w, i int) error {
		return etcdPut(hc, e.clients[w%len(e.clients)], fmt.Sprintf("%s-%d-%d", prefix, w, i), value)
	})
	r.Bench, r.Masters = "etcd_put_1k", len(e.clients)
	return r
}

func percentile(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
}

// ratio compares orch with etcd at one concurrency level of the same run.
type ratio struct {
	Bench           string  `json:"bench"`
	Clients         int     `json:"clients"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	P50Ratio        float64 `json:"p50_ratio"`
	P99Ratio        float64 `json:"p99_ratio"`
}

func compare(orch, etcd result) ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return ratio{Bench: "orch_vs_etcd_write_1k", Clients: orch.Clients, ThroughputRatio: div(orch.OpsPerSec, etcd.OpsPerSec),
		P50Ratio: div(orch.P50ms, etcd.P50ms), P99Ratio: div(orch.P99ms, etcd.P99ms)}
}
