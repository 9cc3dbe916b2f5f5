package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// file is one file of a projected volume, keyed by its relative path.
type file struct {
	data []byte
	mode os.FileMode
}

// missingError says which object is missing in the words the agent shows the user
// (`configmap "app-config" not found`) while errors.Is(err, ErrNotFound) still holds.
type missingError struct {
	kind, name string
	err        error
}

func (e *missingError) Error() string { return fmt.Sprintf("%s %q not found", e.kind, e.name) }
func (e *missingError) Unwrap() error { return e.err }

// getConfigMap returns nil, nil for a missing optional ConfigMap.
func getConfigMap(ctx context.Context, src Source, ns, name string, optional bool) (*orchv1.ConfigMap, error) {
	cm, err := src.ConfigMap(ctx, ns, name)
	switch {
	case errors.Is(err, ErrNotFound):
		if optional {
			return nil, nil
		}
		return nil, &missingError{"configmap", name, err}
	case err != nil:
		return nil, fmt.Errorf("get configmap %q: %w", name, err)
	case cm == nil:
		if optional {
			return nil, nil
		}
		return nil, &missingError{"configmap", name, ErrNotFound}
	}
	return cm, nil
}

// getSecret returns nil, nil for a missing optional Secret.
func getSecret(ctx context.Context, src Source, ns, name string, optional bool) (*orchv1.Secret, error) {
	s, err := src.Secret(ctx, ns, name)
	switch {
	case errors.Is(err, ErrNotFound):
		if optional {
			return nil, nil
		}
		return nil, &missingError{"secret", name, err}
	case err != nil:
		return nil, fmt.Errorf("get secret %q: %w", name, err)
	case s == nil:
		if optional {
			return nil, nil
		}
		return nil, &missingError{"secret", name, ErrNotFound}
	}
	return s, nil
}

func configMapData(cm *orchv1.ConfigMap) map[string][]byte {
	data := make(map[string][]byte, len(cm.GetData())+len(cm.GetBinaryData()))
	for k, v := range cm.GetData() {
		data[k] = []byte(v)
	}
	for k, v := range cm.GetBinaryData() {
		data[k] = v
	}
	return data
}

func configMapFiles(ctx context.Context, src Source, ns, name string, items []*orchv1.KeyToPath, optional bool, mode os.FileMode) (map[string]file, error) {
	cm, err := getConfigMap(ctx, src, ns, name, optional)
	if err != nil || cm == nil {
		return map[string]file{}, err
	}
	return keyFiles("configmap", name, configMapData(cm), items, optional, mode)
}

func secretFiles(ctx context.Context, src Source, ns, name string, items []*orchv1.KeyToPath, optional bool, mode os.FileMode) (map[string]file, error) {
	s, err := getSecret(ctx, src, ns, name, optional)
	if err != nil || s == nil {
		return map[string]file{}, err
	}
	return keyFiles("secret", name, s.GetData(), items, optional, mode)
}

// keyFiles maps data to files: every key under its own name, or only the listed items.
func keyFiles(kind, name string, data map[string][]byte, items []*orchv1.KeyToPath, optional bool, mode os.FileMode) (map[string]file, error) {
	files := make(map[string]file, len(data))
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{data: v, mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.GetKey()]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.GetKey())
		}
		files[it.GetPath()] = file{data: v, mode: modeOr(it.Mode, mode)}
	}
	return files, nil
}

func projectedFiles(ctx context.Context, src Source, pod *orchv1.Pod, p *orchv1.ProjectedVolumeSource) (map[string]file, error) {
	mode := modeOr(p.DefaultMode, defaultMode)
	files := map[string]file{}
	for i, s := range p.GetSources() {
		var part map[string]file
		var err error
		switch {
		case s.GetConfigMap() != nil:
			cm := s.GetConfigMap()
			part, err = configMapFiles(ctx, src, namespace(pod), cm.GetName(), cm.GetItems(), cm.GetOptional(), mode)
		case s.GetSecret() != nil:
			sec := s.GetSecret()
			part, err = secretFiles(ctx, src, namespace(pod), sec.GetName(), sec.GetItems(), sec.GetOptional(), mode)
		case s.GetDownwardApi() != nil:
			part, err = downwardFiles(pod, s.GetDownwardApi().GetItems(), mode)
		case s.GetServiceAccountToken() != nil:
			err = errors.New("serviceAccountToken projections are not supported yet")
		default:
			err = fmt.Errorf("projected source %d has nothing set", i)
		}
		if err != nil {
			return nil, err
		}
		// Validation keeps paths apart; should two collide anyway, the later source wins.
		for k, f := range part {
			files[k] = f
		}
	}
	return files, nil
}

func downwardFiles(pod *orchv1.Pod, items []*orchv1.DownwardAPIVolumeFile, mode os.FileMode) (map[string]file, error) {
	files := make(map[string]file, len(items))
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.GetFieldRef() != nil:
			v, err = fieldValue(pod, it.GetFieldRef().GetFieldPath(), true)
		case it.GetResourceFieldRef() != nil:
			sel := it.GetResourceFieldRef()
			if sel.GetContainerName() == "" {
				err = fmt.Errorf("resourceFieldRef %q needs a containerName in a volume", sel.GetResource())
				break
			}
			v, err = resourceValue(pod, nil, sel)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			return nil, fmt.Errorf("downwardAPI %s: %w", it.GetPath(), err)
		}
		files[it.GetPath()] = file{data: []byte(v), mode: modeOr(it.Mode, mode)}
	}
	return files, nil
}
