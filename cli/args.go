package cli

import (
	"fmt"
	"strings"

	"github.com/orchd/orch/api"
)

// resourceRef is a kind and the names asked for (none: all of them).
type resourceRef struct {
	Kind  *api.Kind
	Names []string
}

func lookupKind(name string) (*api.Kind, error) {
	k, ok := api.Lookup(name)
	if !ok || name == "" {
		return nil, fmt.Errorf("the server doesn't have a resource type %q", name)
	}
	return k, nil
}

// parseResourceArgs reads kubectl's resource arguments: `pods`, `pod web db`,
// `pods,services`, `pods/web services/web`.
func parseResourceArgs(args []string) ([]resourceRef, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource; run 'orchctl api-resources' for the list of kinds")
	}
	if strings.Contains(args[0], "/") {
		var refs []resourceRef
		for _, a := range args {
			kindName, name, ok := strings.Cut(a, "/")
			if !ok || name == "" || strings.Contains(name, "/") {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'orchctl get resource/<resource_name>' instead of 'orchctl get resource resource/<resource_name>'): %q", a)
			}
			k, err := lookupKind(kindName)
			if err != nil {
				return nil, err
			}
			if n := len(refs); n > 0 && refs[n-1].Kind == k {
				refs[n-1].Names = append(refs[n-1].Names, name)
			} else {
				refs = append(refs, resourceRef{Kind: k, Names: []string{name}})
			}
		}
		return refs, nil
	}
	names := args[1:]
	for _, n := range names {
		if strings.Contains(n, "/") {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'orchctl get resource/<resource_name>' instead of 'orchctl get resource resource/<resource_name>'): %q", n)
		}
	}
	var refs []resourceRef
	for _, kn := range strings.Split(args[0], ",") {
		if kn == "" {
			continue
		}
		k, err := lookupKind(kn)
		if err != nil {
			return nil, err
		}
		refs = append(refs, resourceRef{Kind: k, Names: names})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource")
	}
	return refs, nil
}
