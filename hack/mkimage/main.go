// Command mkimage builds orch's busybox test image from Debian's
// busybox-static and pushes it to a registry:
//
//	go run ./hack/mkimage --push 127.0.0.1:5000/orch/busybox:latest
//
// Loopback and localhost registries are spoken to over plain HTTP.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/orchd/orch/node/images/imagetest"
)

func main() {
	push := flag.String("push", "", "reference to push the image to, e.g. 127.0.0.1:5000/orch/busybox:latest")
	flag.Parse()
	if *push == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mkimage --push REGISTRY/REPO[:TAG]")
		os.Exit(2)
	}
	if err := run(*push); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ref string) error {
	img, err := imagetest.BusyboxImage()
	if err != nil {
		return err
	}
	pushed, err := imagetest.PushImage(ref, img)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", pushed, digest)
	return nil
}
