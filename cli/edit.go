package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

const editHeader = `# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# kept, and its path printed.
#
`

func newEditCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edit KIND NAME | KIND/NAME",
		Short: "Edit an object in $EDITOR and update it",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := parseResourceArgs(args)
			if err != nil {
				return err
			}
			if len(refs) != 1 || len(refs[0].Names) != 1 {
				return fmt.Errorf("edit takes exactly one object: KIND NAME or KIND/NAME")
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx := cmd.Context()
			k, name := refs[0].Kind, refs[0].Names[0]
			ns := e.nsFor(k)
			live, err := e.client(k).Get(ctx, ns, name)
			if err != nil {
				return e.serverError(err, "", k, name)
			}
			data, err := ObjectYAML(live)
			if err != nil {
				return err
			}
			original := append([]byte(editHeader), data...)
			f, err := os.CreateTemp("", "orchctl-edit-*.yaml")
			if err != nil {
				return err
			}
			path := f.Name()
			_, err = f.Write(original)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(path)
				return err
			}
			keep := func(err error) error {
				fmt.Fprintf(e.errOut, "A copy of your changes has been stored to %q\n", path)
				return err
			}
			if err := runEditor(path); err != nil {
				return keep(err)
			}
			edited, err := os.ReadFile(path)
			if err != nil {
				return keep(err)
			}
			if bytes.Equal(edited, original) || blank(edited) {
				os.Remove(path)
				fmt.Fprintln(e.out, "Edit cancelled, no changes made.")
				return nil
			}
			ms, err := DecodeManifest(path, edited)
			if err != nil {
				return keep(err)
			}
			if len(ms) != 1 {
				return keep(fmt.Errorf("the edited file must hold exactly one object, it holds %d", len(ms)))
			}
			obj := ms[0].Object
			md := obj.GetMetadata()
			if ms[0].Kind != k || md.GetName() != name || (k.Namespaced && md.GetNamespace() != "" && md.GetNamespace() != ns) {
				return keep(fmt.Errorf("the kind, name and namespace of an object cannot be changed by edit"))
			}
			md.Namespace = ns
			if md.GetResourceVersion() == "" {
				md.ResourceVersion = live.GetMetadata().GetResourceVersion()
			}
			if _, err := e.client(k).Update(ctx, obj); err != nil {
				return keep(e.serverError(err, fmt.Sprintf("%s %q could not be updated", resourceName(k), name), nil, ""))
			}
			os.Remove(path)
			fmt.Fprintf(e.out, "%s edited\n", objectName(k, obj))
			return nil
		},
		ValidArgsFunction: completeKinds,
	}
	return cmd
}

// runEditor opens path in $EDITOR (default vi), which may carry arguments ("code --wait").
func runEditor(path string) error {
	editor := strings.TrimSpace(os.Getenv("EDITOR"))
	if editor == "" {
		editor = "vi"
	}
	c := exec.Command("sh", "-c", editor+` "$1"`, "orchctl-editor", path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", editor, err)
	}
	return nil
}
