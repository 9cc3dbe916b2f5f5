package probe

// These tests pin what one attempt reports for each handler, against servers on loopback
// and a fake Exec: the Result and the Kubernetes-like message.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// testUnit shortens the probe's seconds so a 1-second timeout takes 500ms: short, yet
// long enough for a TLS handshake under -race on a loaded machine.
const testUnit = 500 * time.Millisecond

func portOf(t *testing.T, rawURL string) int32 {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return int32(p)
}

func intPort(p int32) *structpb.Value    { return structpb.NewNumberValue(float64(p)) }
func namedPort(n string) *structpb.Value { return structpb.NewStringValue(n) }

// healthServer serves the paths the HTTP cases probe and hands every request's headers to
// seen, if set.
func healthServer(t *testing.T, tls bool, seen chan<- http.Header) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			h := r.Header.Clone()
			h.Set("Host", r.Host)
			seen <- h
		}
		_, _ = w.Write([]byte("fine"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "sick", http.StatusInternalServerError)
	})
	mux.HandleFunc("/to-ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/to-fail", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/fail", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		// Same server, other host name: the probe must not follow it.
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://localhost:"+port+"/fail", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	srv := httptest.NewUnstartedServer(mux)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestDoHTTPGet(t *testing.T) {
	t.Parallel()
	srv := healthServer(t, false, nil)
	tlsSrv := healthServer(t, true, nil)
	port, tlsPort := portOf(t, srv.URL), portOf(t, tlsSrv.URL)

	cases := []struct {
		name    string
		action  *orchv1.HTTPGetAction
		named   map[string]int32
		want    Result
		wantMsg string
	}{
		{name: "200", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(port)},
			want: Success, wantMsg: "HTTP probe succeeded with statuscode: 200"},
		{name: "500", action: &orchv1.HTTPGetAction{Path: "/fail", Port: intPort(port)},
			want: Failure, wantMsg: "HTTP probe failed with statuscode: 500"},
		{name: "404", action: &orchv1.HTTPGetAction{Path: "/nope", Port: intPort(port)},
			want: Failure, wantMsg: "HTTP probe failed with statuscode: 404"},
		{name: "path without slash", action: &orchv1.HTTPGetAction{Path: "ok", Port: intPort(port)},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "redirect same host followed", action: &orchv1.HTTPGetAction{Path: "/to-ok", Port: intPort(port)},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "redirect same host to a failure", action: &orchv1.HTTPGetAction{Path: "/to-fail", Port: intPort(port)},
			want: Failure, wantMsg: "statuscode: 500"},
		{name: "redirect other host not followed", action: &orchv1.HTTPGetAction{Path: "/elsewhere", Port: intPort(port)},
			want: Success, wantMsg: "statuscode: 302 (redirect to"},
		{name: "redirect loop", action: &orchv1.HTTPGetAction{Path: "/loop", Port: intPort(port)},
			want: Failure, wantMsg: "stopped after 10 redirects"},
		{name: "timeout", action: &orchv1.HTTPGetAction{Path: "/slow", Port: intPort(port)},
			want: Failure, wantMsg: "Client.Timeout exceeded"},
		{name: "big body", action: &orchv1.HTTPGetAction{Path: "/big", Port: intPort(port)},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "named port", action: &orchv1.HTTPGetAction{Path: "/ok", Port: namedPort("http")},
			named: map[string]int32{"http": port}, want: Success, wantMsg: "statuscode: 200"},
		{name: "numeric string port", action: &orchv1.HTTPGetAction{Path: "/ok", Port: namedPort(strconv.Itoa(int(port)))},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "missing named port", action: &orchv1.HTTPGetAction{Path: "/ok", Port: namedPort("metrics")},
			named: map[string]int32{"http": port}, want: Failure, wantMsg: `port "metrics" is not a named port of the container`},
		{name: "no port", action: &orchv1.HTTPGetAction{Path: "/ok"},
			want: Failure, wantMsg: "probe has no port"},
		{name: "port out of range", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(70000)},
			want: Failure, wantMsg: "port 70000 is out of range"},
		{name: "explicit host", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(port), Host: "127.0.0.1"},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "https self-signed", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(tlsPort), Scheme: "HTTPS"},
			want: Success, wantMsg: "statuscode: 200"},
		{name: "bad scheme", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(port), Scheme: "FTP"},
			want: Failure, wantMsg: `unsupported scheme "FTP"`},
		{name: "refused", action: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(closedPort(t))},
			want: Failure, wantMsg: "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &orchv1.Probe{HttpGet: tc.action}
			target := Target{PodIP: "127.0.0.1", NamedPorts: tc.named}
			got, msg := do(context.Background(), p, target, testUnit)
			if got != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("do = %v %q, want %v containing %q", got, msg, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestDoHTTPGetHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		headers []*orchv1.HTTPHeader
		want    map[string]string
	}{
		{name: "defaults", want: map[string]string{"User-Agent": userAgent, "Accept": "*/*"}},
		{name: "custom", headers: []*orchv1.HTTPHeader{
			{Name: "X-Probe", Value: "yes"},
			{Name: "Accept", Value: "application/json"},
			{Name: "User-Agent", Value: "mine"},
			{Name: "Host", Value: "web.example"},
		}, want: map[string]string{"X-Probe": "yes", "Accept": "application/json", "User-Agent": "mine", "Host": "web.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan http.Header, 1)
			srv := healthServer(t, false, seen)
			p := &orchv1.Probe{HttpGet: &orchv1.HTTPGetAction{Path: "/ok", Port: intPort(portOf(t, srv.URL)), HttpHeaders: tc.headers}}
			if got, msg := Do(context.Background(), p, Target{PodIP: "127.0.0.1"}); got != Success {
				t.Fatalf("Do = %v %q, want Success", got, msg)
			}
			h := <-seen
			for k, v := range tc.want {
				if h.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
				}
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return int32(port)
}

func TestDoTCPSocket(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	open := int32(ln.Addr().(*net.TCPAddr).Port)
	closed := closedPort(t)

	cases := []struct {
		name    string
		action  *orchv1.TCPSocketAction
		target  Target
		want    Result
		wantMsg string
	}{
		{name: "open", action: &orchv1.TCPSocketAction{Port: intPort(open)}, target: Target{PodIP: "127.0.0.1"},
			want: Success, wantMsg: "connected to 127.0.0.1:"},
		{name: "closed", action: &orchv1.TCPSocketAction{Port: intPort(closed)}, target: Target{PodIP: "127.0.0.1"},
			want: Failure, wantMsg: "dial tcp 127.0.0.1:" + strconv.Itoa(int(closed)) + ": connect: connection refused"},
		{name: "named", action: &orchv1.TCPSocketAction{Port: namedPort("db")},
			target: Target{PodIP: "127.0.0.1", NamedPorts: map[string]int32{"db": open}}, want: Success, wantMsg: "connected"},
		{name: "missing named", action: &orchv1.TCPSocketAction{Port: namedPort("db")}, target: Target{PodIP: "127.0.0.1"},
			want: Failure, wantMsg: `port "db" is not a named port of the container`},
		{name: "explicit host", action: &orchv1.TCPSocketAction{Port: intPort(open), Host: "127.0.0.1"}, target: Target{PodIP: "192.0.2.1"},
			want: Success, wantMsg: "connected"},
		{name: "no pod IP", action: &orchv1.TCPSocketAction{Port: intPort(open)},
			want: Unknown, wantMsg: "pod has no IP yet"},
		{name: "custom dial", action: &orchv1.TCPSocketAction{Port: intPort(open)}, target: Target{PodIP: "192.0.2.1",
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
			}}, want: Success, wantMsg: "connected to 192.0.2.1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, msg := do(context.Background(), &orchv1.Probe{TcpSocket: tc.action}, tc.target, testUnit)
			if got != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("do = %v %q, want %v containing %q", got, msg, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestDoExec(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cmd     []string
		exec    func(ctx context.Context, cmd []string) (int, []byte, error)
		want    Result
		wantMsg string
	}{
		{name: "exit 0", cmd: []string{"cat", "/tmp/healthy"},
			exec: func(context.Context, []string) (int, []byte, error) { return 0, []byte("ok\n"), nil },
			want: Success, wantMsg: `command "cat /tmp/healthy" exited with 0: ok`},
		{name: "exit 1", cmd: []string{"cat", "/tmp/healthy"},
			exec: func(context.Context, []string) (int, []byte, error) {
				return 1, []byte("cat: can't open '/tmp/healthy': No such file or directory\n"), nil
			},
			want: Failure, wantMsg: `command "cat /tmp/healthy" exited with 1: cat: can't open '/tmp/healthy': No such file or directory`},
		{name: "exit 1 silent", cmd: []string{"false"},
			exec: func(context.Context, []string) (int, []byte, error) { return 1, nil, nil },
			want: Failure, wantMsg: `command "false" exited with 1`},
		{name: "error", cmd: []string{"true"},
			exec: func(context.Context, []string) (int, []byte, error) {
				return -1, nil, errors.New("container not running")
			},
			want: Unknown, wantMsg: `exec command "true": container not running`},
		{name: "timeout", cmd: []string{"sleep", "60"},
			exec: func(ctx context.Context, _ []string) (int, []byte, error) { <-ctx.Done(); return -1, nil, ctx.Err() },
			want: Failure, wantMsg: `command "sleep 60" timed out after 500ms`},
		{name: "empty command",
			exec: func(context.Context, []string) (int, []byte, error) { return 0, nil, nil },
			want: Failure, wantMsg: "empty command"},
		{name: "no exec", cmd: []string{"true"}, want: Unknown, wantMsg: "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ran []string
			target := Target{}
			if tc.exec != nil {
				target.Exec = func(ctx context.Context, cmd []string) (int, []byte, error) {
					ran = cmd
					return tc.exec(ctx, cmd)
				}
			}
			got, msg := do(context.Background(), &orchv1.Probe{Exec: &orchv1.ExecAction{Command: tc.cmd}}, target, testUnit)
			if got != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("do = %v %q, want %v containing %q", got, msg, tc.want, tc.wantMsg)
			}
			if tc.exec != nil && len(tc.cmd) > 0 && strings.Join(ran, " ") != strings.Join(tc.cmd, " ") {
				t.Errorf("ran %q, want %q", ran, tc.cmd)
			}
		})
	}
}

func TestDoExecOutputTrimmed(t *testing.T) {
	t.Parallel()
	target := Target{Exec: func(context.Context, []string) (int, []byte, error) {
		return 1, []byte(strings.Repeat("é", maxOutput)), nil // 2 bytes a rune: the limit cuts one
	}}
	got, msg := Do(context.Background(), &orchv1.Probe{Exec: &orchv1.ExecAction{Command: []string{"x"}}}, target)
	if got != Failure {
		t.Fatalf("Do = %v, want Failure", got)
	}
	if len(msg) > maxOutput+100 {
		t.Errorf("message is %d bytes, want the output trimmed to %d", len(msg), maxOutput)
	}
}

func TestDoNoHandler(t *testing.T) {
	t.Parallel()
	for _, p := range []*orchv1.Probe{nil, {}, {Grpc: &orchv1.GRPCAction{Port: 9000, Service: proto.String("x")}}} {
		if got, msg := Do(context.Background(), p, Target{PodIP: "127.0.0.1"}); got != Unknown || msg == "" {
			t.Errorf("Do(%v) = %v %q, want Unknown with a message", p, got, msg)
		}
	}
}
