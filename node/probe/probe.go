// Package probe runs a container's liveness, readiness and startup probes for the worker
// agent, with Kubernetes semantics: Do makes one attempt (httpGet, tcpSocket or exec) and
// Worker repeats it on the probe's schedule, turning attempts into a reported result
// through the success and failure thresholds.
//
// It only observes: it never restarts a container, changes pod status or records Events
// itself. The agent does that from the callbacks, so the rules for what a result means
// stay in one place.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Result is the outcome of one attempt, or the result a Worker reports.
type Result int

const (
	// Unknown: the attempt could not be made (no handler, no pod IP, the exec failed to
	// start); it says nothing about the container's health.
	Unknown Result = 0
	Success Result = 1
	Failure Result = 2
)

func (r Result) String() string {
	switch r {
	case Unknown:
		return "Unknown"
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Kind names which of a container's probes a Worker runs.
type Kind string

const (
	Liveness  Kind = "liveness"
	Readiness Kind = "readiness"
	Startup   Kind = "startup"
)

// Target is the container a probe checks.
type Target struct {
	// PodIP is the host for httpGet and tcpSocket probes that do not name one.
	PodIP string
	// NamedPorts maps the container's port names to numbers, for probes that name a port.
	NamedPorts map[string]int32
	// Exec runs cmd in the container and returns its exit code and combined output. An
	// error means the command could not be run at all. It must return when ctx ends.
	Exec func(ctx context.Context, cmd []string) (exitCode int, output []byte, err error)
	// Dial, when set, opens httpGet and tcpSocket connections, so that the agent can
	// dial from inside the pod's network namespace; nil dials from the host.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	// maxOutput bounds the HTTP body read and the exec output kept, as Kubernetes does, so
	// a chatty health endpoint cannot make the agent buffer megabytes every period.
	maxOutput = 10 << 10

	defaultTimeoutSeconds   = 1
	defaultPeriodSeconds    = 10
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3

	userAgent = "orch-probe/1"
)

// Do makes one attempt of p against t, bounded by p's timeoutSeconds (default 1), and
// returns its result with a message for humans (Events, pod conditions).
func Do(ctx context.Context, p *orchv1.Probe, t Target) (Result, string) {
	return do(ctx, p, t, time.Second)
}

// do is Do with the length of a "second" as a parameter, so tests run in milliseconds.
func do(ctx context.Context, p *orchv1.Probe, t Target, unit time.Duration) (Result, string) {
	timeout := time.Duration(orDefault(p.GetTimeoutSeconds(), defaultTimeoutSeconds)) * unit
	switch {
	case p.GetExec() != nil:
		return doExec(ctx, p.GetExec(), t, timeout)
	case p.GetHttpGet() != nil:
		return doHTTP(ctx, p.GetHttpGet(), t, timeout)
	case p.GetTcpSocket() != nil:
		return doTCP(ctx, p.GetTcpSocket(), t, timeout)
	case p.GetGrpc() != nil:
		return Unknown, "grpc probes are not supported yet"
	}
	return Unknown, "probe has no handler: set one of exec, httpGet, tcpSocket"
}

// orDefault reads an optional probe setting; Kubernetes' minimum for all of them is 1.
func orDefault(v, def int32) int32 {
	if v < 1 {
		return def
	}
	return v
}

func doExec(ctx context.Context, a *orchv1.ExecAction, t Target, timeout time.Duration) (Result, string) {
	cmd := a.GetCommand()
	shown := strconv.Quote(strings.Join(cmd, " "))
	if len(cmd) == 0 {
		return Failure, "exec probe has an empty command"
	}
	if t.Exec == nil {
		return Unknown, "exec probes are not supported for this container"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, out, err := t.Exec(ctx, cmd)
	if err != nil {
		// A command that outlives the timeout is the container's fault (Kubernetes since
		// 1.20); any other error is ours, not the container's.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Failure, fmt.Sprintf("command %s timed out after %s", shown, timeout)
		}
		return Unknown, fmt.Sprintf("exec command %s: %v", shown, err)
	}
	msg := fmt.Sprintf("command %s exited with %d", shown, code)
	if o := trimOutput(out); o != "" {
		msg += ": " + o
	}
	if code != 0 {
		return Failure, msg
	}
	return Success, msg
}

// trimOutput keeps the first maxOutput bytes; a rune cut in half by the limit shows as U+FFFD.
func trimOutput(b []byte) string {
	if len(b) > maxOutput {
		b = b[:maxOutput]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// resolvePort turns an int-or-name port into a number. Like Kubernetes, a name that is not
// a container port but reads as a number is taken as that number.
func resolvePort(v *structpb.Value, named map[string]int32) (int, error) {
	n, name, isInt := api.IntOrString(v)
	if !isInt {
		if name == "" {
			return 0, errors.New("probe has no port")
		}
		if p, ok := named[name]; ok {
			n = int(p)
		} else if p, err := strconv.Atoi(name); err == nil {
			n = p
		} else {
			return 0, fmt.Errorf("port %q is not a named port of the container", name)
		}
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range 1-65535", n)
	}
	return n, nil
}

func (t Target) host(h string) string {
	if h != "" {
		return h
	}
	return t.PodIP
}

func (t Target) dialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.Dial != nil {
		return t.Dial
	}
	return (&net.Dialer{Timeout: timeout}).DialContext
}

func doTCP(ctx context.Context, a *orchv1.TCPSocketAction, t Target, timeout time.Duration) (Result, string) {
	port, err := resolvePort(a.GetPort(), t.NamedPorts)
	if err != nil {
		return Failure, err.Error()
	}
	host := t.host(a.GetHost())
	if host == "" {
		return Unknown, "pod has no IP yet"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := t.dialer(timeout)(ctx, "tcp", addr)
	if err != nil {
		return Failure, err.Error() // "dial tcp 10.244.0.5:8080: connect: connection refused"
	}
	_ = conn.Close()
	return Success, "connected to " + addr
}

func doHTTP(ctx context.Context, a *orchv1.HTTPGetAction, t Target, timeout time.Duration) (Result, string) {
	port, err := resolvePort(a.GetPort(), t.NamedPorts)
	if err != nil {
		return Failure, err.Error()
	}
	host := t.host(a.GetHost())
	if host == "" {
		return Unknown, "pod has no IP yet"
	}
	scheme := strings.ToLower(a.GetScheme())
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return Failure, fmt.Sprintf("unsupported scheme %q: use HTTP or HTTPS", a.GetScheme())
	}
	u, err := url.Parse(a.GetPath())
	if err != nil {
		// Kubernetes passes a path it cannot parse along as is rather than fail the pod.
		u = &url.URL{Path: a.GetPath()}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Failure, err.Error()
	}
	for _, h := range a.GetHttpHeaders() {
		if h.GetName() == "" {
			continue
		}
		if strings.EqualFold(h.GetName(), "Host") {
			req.Host = h.GetValue()
			continue
		}
		req.Header.Add(h.GetName(), h.GetValue())
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}

	client := &http.Client{
		Timeout:       timeout,
		CheckRedirect: sameHostRedirects,
		Transport: &http.Transport{
			// Kubernetes probes do not verify certificates: pods serve self-signed ones.
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives:  true,                                  // one attempt, one connection: no idle pool to leak
			DisableCompression: true,
			Proxy:              nil, // never through the node's proxy: the pod IP is local
			DialContext:        t.dialer(timeout),
		},
	}
	res, err := client.Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(res.Body, maxOutput)); err != nil {
		return Failure, fmt.Sprintf("HTTP probe failed reading the body: %v", err)
	}
	if res.StatusCode < http.StatusOK || res.StatusCode >= http.StatusBadRequest {
		return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode)
	}
	msg := fmt.Sprintf("HTTP probe succeeded with statuscode: %d", res.StatusCode)
	if res.StatusCode >= http.StatusMultipleChoices {
		// Kubernetes counts a redirect it will not follow as a success, with a warning.
		msg += fmt.Sprintf(" (redirect to %q not followed: another host)", res.Header.Get("Location"))
	}
	return Success, msg
}

// sameHostRedirects follows redirects to the probed host only, as the kubelet does by
// default: a probe must not be turned into a request to some other machine.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
