// Command orchctl is the command line of orch; everything lives in package cli.
package main

import (
	"os"

	"github.com/orchd/orch/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
