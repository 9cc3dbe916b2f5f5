package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newCreateCommand(e *env) *cobra.Command {
	f := &fileOptions{}
	cmd := &cobra.Command{
		Use:   "create -f FILE|DIR|-",
		Short: "Create objects from manifests, or a namespace, config map or secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := ReadManifests(f.files, f.recursive, e.in)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			var errs errorList
			for _, m := range ms {
				if err := e.prepare(m, false); err != nil {
					if errs.add(err) {
						return errs[len(errs)-1]
					}
					continue
				}
				created, err := e.client(m.Kind).Create(cmd.Context(), m.Object)
				if err != nil {
					if errs.add(e.serverError(err, fmt.Sprintf("error when creating %q", m.Source), nil, "")) {
						return errs[len(errs)-1]
					}
					continue
				}
				fmt.Fprintf(e.out, "%s created\n", objectName(m.Kind, created))
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
	}
	f.add(cmd, "to create")
	cmd.AddCommand(newCreateNamespaceCommand(e), newCreateConfigMapCommand(e), newCreateSecretCommand(e))
	return cmd
}

// createObject sends one object built on the command line and prints "kind/name created".
func (e *env) createObject(cmd *cobra.Command, k *api.Kind, obj api.Object) error {
	if err := e.connect(); err != nil {
		return err
	}
	api.SetTypeMeta(k, obj)
	if k.Namespaced {
		api.Meta(obj).Namespace = e.namespace
	}
	created, err := e.client(k).Create(cmd.Context(), obj)
	if err != nil {
		return e.serverError(err, "", nil, "")
	}
	fmt.Fprintf(e.out, "%s created\n", objectName(k, created))
	return nil
}

func newCreateNamespaceCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.createObject(cmd, api.NamespaceKind, &orchv1.Namespace{Metadata: &orchv1.ObjectMeta{Name: args[0]}})
		},
	}
}

// sourceData reads --from-literal key=value and --from-file [key=]path into a map.
func sourceData(literals, files []string) (map[string][]byte, error) {
	data := map[string][]byte{}
	put := func(k string, v []byte) error {
		if _, dup := data[k]; dup {
			return fmt.Errorf("cannot add key %q, another key by that name already exists", k)
		}
		data[k] = v
		return nil
	}
	for _, l := range literals {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid literal source %q, expected key=value", l)
		}
		if err := put(k, []byte(v)); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		k, p, ok := strings.Cut(f, "=")
		if !ok {
			k, p = filepath.Base(f), f
		}
		v, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func newCreateConfigMapCommand(e *env) *cobra.Command {
	var literals, files []string
	cmd := &cobra.Command{
		Use:     "configmap NAME [--from-literal key=value] [--from-file [key=]path]",
		Aliases: []string{"cm"},
		Short:   "Create a config map",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := sourceData(literals, files)
			if err != nil {
				return err
			}
			cm := &orchv1.ConfigMap{Metadata: &orchv1.ObjectMeta{Name: args[0]}, Data: map[string]string{}}
			for k, v := range data {
				cm.Data[k] = string(v)
			}
			return e.createObject(cmd, api.ConfigMapKind, cm)
		},
	}
	cmd.Flags().StringArrayVar(&literals, "from-literal", nil, "a key=value pair (repeatable)")
	cmd.Flags().StringArrayVar(&files, "from-file", nil, "a file, as [key=]path (repeatable)")
	return cmd
}

func newCreateSecretCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Create a secret"}
	var literals, files []string
	var typ string
	generic := &cobra.Command{
		Use:   "generic NAME [--from-literal key=value] [--from-file [key=]path]",
		Short: "Create a secret from literal values or files",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := sourceData(literals, files)
			if err != nil {
				return err
			}
			return e.createObject(cmd, api.SecretKind, &orchv1.Secret{Metadata: &orchv1.ObjectMeta{Name: args[0]}, Data: data, Type: typ})
		},
	}
	generic.Flags().StringArrayVar(&literals, "from-literal", nil, "a key=value pair (repeatable)")
	generic.Flags().StringArrayVar(&files, "from-file", nil, "a file, as [key=]path (repeatable)")
	generic.Flags().StringVar(&typ, "type", "Opaque", "the secret type")
	cmd.AddCommand(generic)
	return cmd
}
