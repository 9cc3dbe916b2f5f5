// Package imagetest builds small container images for tests and tools: the
// busybox test image (from Debian's busybox-static) and layers from a list of
// tar entries. It must stay free of orch's own packages so any test can use it.
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// Applets get a symlink in /bin pointing at busybox.
var Applets = []string{
	"sh", "ls", "cat", "echo", "sleep", "httpd", "wget", "nc", "touch", "rm",
	"mkdir", "head", "tr", "tail", "env", "hostname", "id", "ps", "grep",
	"date", "true", "false", "dd", "seq",
}

// IndexHTML is the content of /www/index.html in the busybox image.
const IndexHTML = "hello from orch\n"

// Entry is one tar entry of a layer. Type defaults to a regular file (or a
// directory when Name ends in "/"); Mode defaults to 0644 / 0755.
type Entry struct {
	Name     string
	Type     byte
	Mode     int64
	Body     []byte
	Linkname string
	Uid, Gid int
}

// epoch makes the layers reproducible: the same input gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// Layer builds a gzip-compressed layer holding entries in order.
func Layer(entries ...Entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
			if len(e.Name) > 0 && e.Name[len(e.Name)-1] == '/' {
				typ = tar.TypeDir
			}
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{
			Typeflag: typ,
			Name:     e.Name,
			Linkname: e.Linkname,
			Mode:     mode,
			Uid:      e.Uid,
			Gid:      e.Gid,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				return nil, fmt.Errorf("layer entry %q: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// Image builds a linux/amd64 image from layers (bottom first) and config.
func Image(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, layers...)
}

// BusyboxEntries lists the busybox image's single layer: /bin/busybox with
// its applet symlinks, /tmp, /etc/passwd and /etc/group with root and
// nobody, and /www/index.html.
func BusyboxEntries() ([]Entry, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox image needs Debian's busybox-static: %w", err)
	}
	entries := []Entry{
		{Name: "bin/"},
		{Name: "bin/busybox", Mode: 0o755, Body: bb},
	}
	for _, a := range Applets {
		entries = append(entries, Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	entries = append(entries,
		Entry{Name: "etc/"},
		Entry{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		Entry{Name: "etc/group", Body: []byte("root:x:0:\nnobody:x:65534:\n")},
		Entry{Name: "root/", Mode: 0o700},
		Entry{Name: "tmp/", Mode: 0o1777},
		Entry{Name: "www/"},
		Entry{Name: "www/index.html", Body: []byte(IndexHTML)},
	)
	return entries, nil
}

// BusyboxImage builds the busybox test image: one layer (BusyboxEntries),
// Cmd ["sh"], Env PATH=/bin. It is reproducible.
func BusyboxImage() (v1.Image, error) {
	entries, err := BusyboxEntries()
	if err != nil {
		return nil, err
	}
	layer, err := Layer(entries...)
	if err != nil {
		return nil, err
	}
	return Image(v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}, layer)
}

// Push writes img to registryHost/repo (repo may carry a ":tag"; plain HTTP
// for loopback registries) and returns the reference pushed.
func Push(t testing.TB, registryHost, repo string, img v1.Image) string {
	t.Helper()
	ref, err := PushImage(registryHost+"/"+repo, img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage writes img to ref and returns ref in canonical form.
func PushImage(ref string, img v1.Image, opts ...remote.Option) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return r.Name(), nil
}
