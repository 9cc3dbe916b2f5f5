// This test drives the commands through a tiny in-memory Pod service, to pin the
// request plumbing (apply's created/unchanged/configured, get, delete --wait) without
// a real master; the end-to-end suite covers the rest against real masters.
package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
	"github.com/orchd/orch/proto/gen/orch/v1/orchv1connect"
	"github.com/orchd/orch/transport"
)

// fakePods is a PodService over a map; an update that changes nothing keeps the
// resourceVersion, as the real store does.
type fakePods struct {
	orchv1connect.UnimplementedPodServiceHandler
	mu   sync.Mutex
	rv   int
	pods map[string]*orchv1.Pod
}

func (f *fakePods) Create(_ context.Context, r *connect.Request[orchv1.Pod]) (*connect.Response[orchv1.Pod], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := proto.Clone(r.Msg).(*orchv1.Pod)
	key := api.ObjectKey(p)
	if _, ok := f.pods[key]; ok {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("pods %q already exists", p.GetMetadata().GetName()))
	}
	f.rv++
	p.Metadata.ResourceVersion = strconv.Itoa(f.rv)
	p.Metadata.Uid = "uid-" + p.Metadata.Name
	p.Metadata.CreationTimestamp = timestamppb.Now()
	p.Status = &orchv1.PodStatus{Phase: "Pending"}
	f.pods[key] = p
	return connect.NewResponse(p), nil
}

func (f *fakePods) Get(_ context.Context, r *connect.Request[orchv1.GetRequest]) (*connect.Response[orchv1.Pod], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[api.Key(r.Msg.GetNamespace(), r.Msg.GetName())]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("pod %s not found", r.Msg.GetName()))
	}
	return connect.NewResponse(proto.Clone(p).(*orchv1.Pod)), nil
}

func (f *fakePods) List(_ context.Context, r *connect.Request[orchv1.ListRequest]) (*connect.Response[orchv1.PodList], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &orchv1.PodList{Metadata: &orchv1.ListMeta{ResourceVersion: strconv.Itoa(f.rv)}}
	for _, p := range f.pods {
		if r.Msg.GetNamespace() == "" || p.GetMetadata().GetNamespace() == r.Msg.GetNamespace() {
			l.Items = append(l.Items, proto.Clone(p).(*orchv1.Pod))
		}
	}
	return connect.NewResponse(l), nil
}

func (f *fakePods) Update(_ context.Context, r *connect.Request[orchv1.Pod]) (*connect.Response[orchv1.Pod], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := proto.Clone(r.Msg).(*orchv1.Pod)
	key := api.ObjectKey(p)
	live, ok := f.pods[key]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("not found"))
	}
	if p.GetMetadata().GetResourceVersion() != live.GetMetadata().GetResourceVersion() {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("conflict"))
	}
	p.Status = live.Status
	if proto.Equal(p, live) {
		return connect.NewResponse(live), nil
	}
	f.rv++
	p.Metadata.ResourceVersion = strconv.Itoa(f.rv)
	f.pods[key] = p
	return connect.NewResponse(p), nil
}

func (f *fakePods) Delete(_ context.Context, r *connect.Request[orchv1.DeleteRequest]) (*connect.Response[orchv1.Pod], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := api.Key(r.Msg.GetNamespace(), r.Msg.GetName())
	p, ok := f.pods[key]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("not found"))
	}
	delete(f.pods, key)
	return connect.NewResponse(p), nil
}

func startFake(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(orchv1connect.NewPodServiceHandler(&fakePods{pods: map[string]*orchv1.Pod{}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := transport.Server(mux)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func run(t *testing.T, server string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(append([]string{"--server", server}, args...))
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestCommandsAgainstFakePods(t *testing.T) {
	t.Parallel()
	server := startFake(t)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "pod.yaml")
	write := func(label string) {
		t.Helper()
		s := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\n  labels: {v: \"" + label + "\"}\nspec:\n  containers:\n  - {name: c, image: busybox}\n"
		if err := os.WriteFile(manifest, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string, args ...string) {
		t.Helper()
		out, _, err := run(t, server, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("%v: output %q lacks %q", args, out, want)
		}
	}
	write("1")
	expect("pod/hello created\n", "apply", "-f", manifest)
	expect("pod/hello unchanged\n", "apply", "-f", manifest)
	write("2")
	expect("pod/hello configured\n", "apply", "-f", manifest)
	expect("hello   0/1     Pending", "get", "pods")
	expect("pod/hello\n", "get", "pod/hello", "-o", "name")
	expect("  labels:\n    v: \"2\"\n", "get", "po", "hello", "-o", "yaml")

	_, _, err := run(t, server, "get", "pod", "nope")
	if got := errorLines(err); len(got) != 1 || got[0] != `Error from server (NotFound): pods "nope" not found` {
		t.Fatalf("get nope: %q", got)
	}
	_, _, err = run(t, server, "create", "-f", manifest)
	if got := errorLines(err); len(got) != 1 || !strings.HasPrefix(got[0], "Error from server (AlreadyExists): ") {
		t.Fatalf("create again: %q", got)
	}
	expect(`pod "hello" deleted`, "delete", "pod", "hello", "--timeout", "5s")
	_, stderr, err := run(t, server, "get", "pods")
	if err != nil || stderr != "No resources found in default namespace.\n" {
		t.Fatalf("get after delete: %q %v", stderr, err)
	}
	if _, _, err := run(t, server, "delete", "pod", "hello", "--ignore-not-found"); err != nil {
		t.Fatalf("delete --ignore-not-found: %v", err)
	}
}

// Watch sends every pod as MODIFIED, then holds the stream open.
func (f *fakePods) Watch(ctx context.Context, r *connect.Request[orchv1.WatchRequest], s *connect.ServerStream[orchv1.PodWatchEvent]) error {
	f.mu.Lock()
	var evs []*orchv1.PodWatchEvent
	for _, p := range f.pods {
		evs = append(evs, &orchv1.PodWatchEvent{Type: api.Modified, Object: proto.Clone(p).(*orchv1.Pod)})
	}
	f.mu.Unlock()
	for _, ev := range evs {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestGetWatch(t *testing.T) {
	t.Parallel()
	server := startFake(t)
	if _, _, err := run(t, server, "create", "namespace", "x"); err == nil {
		t.Fatal("the fake serves no namespaces")
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, "pod.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec: {containers: [{name: c, image: i}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, server, "apply", "-f", manifest); err != nil {
		t.Fatal(err)
	}
	watch := func(args ...string) string {
		root := NewRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--server", server, "get", "pods", "-w"}, args...))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := root.ExecuteContext(ctx); err != nil {
			t.Fatalf("watch: %v", err)
		}
		return out.String()
	}
	if got := watch(); strings.Count(got, "\nw ") != 2 || !strings.HasPrefix(got, "NAME ") {
		t.Errorf("get -w:\n%s", got)
	}
	if got := watch("--watch-only"); strings.Count(got, "\nw ") != 1 || !strings.HasPrefix(got, "NAME ") {
		t.Errorf("get -w --watch-only:\n%s", got)
	}
}

// Not parallel: it sets $EDITOR.
func TestEdit(t *testing.T) {
	server := startFake(t)
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: e}\nspec: {containers: [{name: c, image: busybox}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, server, "apply", "-f", manifest); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", "true")
	if out, _, err := run(t, server, "edit", "pod", "e"); err != nil || out != "Edit cancelled, no changes made.\n" {
		t.Fatalf("unchanged edit: %q %v", out, err)
	}
	t.Setenv("EDITOR", "sed -i s/busybox/busybox2/")
	if out, _, err := run(t, server, "edit", "pod/e"); err != nil || out != "pod/e edited\n" {
		t.Fatalf("edit: %q %v", out, err)
	}
	if out, _, _ := run(t, server, "get", "pod", "e", "-o", "json"); !strings.Contains(out, `"image": "busybox2"`) {
		t.Fatalf("after edit: %s", out)
	}
	t.Setenv("EDITOR", "sed -i s/containers:/containerz:/")
	_, stderr, err := run(t, server, "edit", "pod/e")
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.containerz"`) || !strings.Contains(stderr, "A copy of your changes has been stored to") {
		t.Fatalf("bad edit: %v, %q", err, stderr)
	}
	path := stderr[strings.Index(stderr, `"`)+1 : strings.LastIndex(stderr, `"`)]
	os.Remove(path)
}
