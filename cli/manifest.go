package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"github.com/orchd/orch/api"
)

// Manifest is one object read from a manifest file.
type Manifest struct {
	Source string // file name, or "STDIN"
	Doc    int    // 1-based number of the document in Source
	Item   int    // 1-based number of the item in a List document, else 0
	Kind   *api.Kind
	Object api.Object
}

// Where names the manifest in messages: `web.yaml: document 2 (Deployment "web")`.
func (m *Manifest) Where() string {
	return where(m.Source, m.Doc, m.Item, m.Kind.Name, m.Object.GetMetadata().GetName())
}

func where(source string, doc, item int, kind, name string) string {
	s := fmt.Sprintf("%s: document %d", source, doc)
	if item > 0 {
		s += fmt.Sprintf(", item %d", item)
	}
	switch {
	case kind != "" && name != "":
		s += fmt.Sprintf(" (%s %q)", kind, name)
	case kind != "":
		s += fmt.Sprintf(" (%s)", kind)
	}
	return s
}

// manifestExts are the file extensions read from a directory.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// ReadManifests reads every object from the given files, directories (their *.yaml, *.yml
// and *.json files in name order, and subdirectories too when recursive) and "-" (stdin).
func ReadManifests(paths []string, recursive bool, stdin io.Reader) ([]*Manifest, error) {
	if len(paths) == 0 {
		return nil, errors.New("must specify -f (a file, a directory or - for stdin)")
	}
	var out []*Manifest
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			ms, err := DecodeManifest("STDIN", data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			ms, err := DecodeManifest(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

// manifestFiles expands a -f argument into files.
func manifestFiles(p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", p)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	if recursive {
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && manifestExts[strings.ToLower(filepath.Ext(path))] {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && manifestExts[strings.ToLower(filepath.Ext(e.Name()))] {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no manifests (*.yaml, *.yml, *.json) in directory %q", p)
	}
	return files, nil
}

// chunk is one YAML document of a file and the file line it starts on.
type chunk struct {
	text []byte
	line int
}

// docSeparator is a YAML document start line: "---", maybe followed by a comment.
var docSeparator = regexp.MustCompile(`^---\s*(#.*)?$`)

// splitDocuments splits a multi-document YAML stream on "---" lines.
func splitDocuments(data []byte) []chunk {
	var out []chunk
	var cur bytes.Buffer
	start := 1
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		if docSeparator.Match(bytes.TrimRight(l, "\r\n")) {
			out = append(out, chunk{text: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = i + 2
			continue
		}
		cur.Write(l)
	}
	return append(out, chunk{text: cur.Bytes(), line: start})
}

// blank tells whether a YAML document has nothing but whitespace and comments.
func blank(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLine = regexp.MustCompile(`\bline (\d+)`)

// yamlError makes a YAML error name the line of the file rather than of the document.
func yamlError(err error, firstLine int) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	return yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(s[len("line "):])
		return fmt.Sprintf("line %d", n+firstLine-1)
	})
}

// DecodeManifest decodes the objects of one manifest file: YAML documents separated by
// "---" lines, or JSON; a document may be a List with items. Errors name the source and
// the document.
func DecodeManifest(source string, data []byte) ([]*Manifest, error) {
	var out []*Manifest
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		ms, err := decodeDocument(source, 1, trimmed)
		if err != nil {
			return nil, err
		}
		return ms, nil
	}
	doc := 0
	for _, c := range splitDocuments(data) {
		if blank(c.text) {
			continue
		}
		doc++
		j, err := yaml.YAMLToJSON(c.text)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", where(source, doc, 0, "", ""), yamlError(err, c.line))
		}
		ms, err := decodeDocument(source, doc, j)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// decodeDocument decodes one JSON document: an object, or a List of objects.
func decodeDocument(source string, doc int, j []byte) ([]*Manifest, error) {
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %v", where(source, doc, 0, "", ""), err)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a manifest must be an object with apiVersion and kind, not %s", where(source, doc, 0, "", ""), jsonType(v))
	}
	kind, _ := m["kind"].(string)
	if items, isList := listItems(m, kind); isList {
		arr, ok := items.([]any)
		if !ok && items != nil {
			return nil, fmt.Errorf("%s: items: expected an array, got %s", where(source, doc, 0, kind, ""), jsonType(items))
		}
		itemKind := strings.TrimSuffix(kind, "List")
		apiVersion, _ := m["apiVersion"].(string)
		var out []*Manifest
		for i, it := range arr {
			im, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: an item must be an object, not %s", where(source, doc, i+1, "", ""), jsonType(it))
			}
			// Items of a typed list (PodList) may leave out their kind.
			if _, has := im["kind"]; !has && itemKind != "" {
				im["kind"] = itemKind
				if _, has := im["apiVersion"]; !has {
					im["apiVersion"] = apiVersion
				}
			}
			mf, err := decodeObject(source, doc, i+1, im)
			if err != nil {
				return nil, err
			}
			out = append(out, mf)
		}
		return out, nil
	}
	mf, err := decodeObject(source, doc, 0, m)
	if err != nil {
		return nil, err
	}
	return []*Manifest{mf}, nil
}

// listItems returns the items of a List (or typed list such as PodList) document.
func listItems(m map[string]any, kind string) (any, bool) {
	if kind == "List" {
		return m["items"], true
	}
	if base, ok := strings.CutSuffix(kind, "List"); ok {
		if _, known := api.Lookup(base); known {
			if _, err := api.LookupAPI("", base); err == nil {
				return m["items"], true
			}
		}
	}
	return nil, false
}

// decodeObject decodes one object of a manifest.
func decodeObject(source string, doc, item int, m map[string]any) (*Manifest, error) {
	kind, kindOK := m["kind"].(string)
	apiVersion, avOK := m["apiVersion"].(string)
	var name string
	if md, ok := m["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", where(source, doc, item, kind, name), fmt.Sprintf(format, a...))
	}
	if !kindOK || kind == "" {
		return nil, fail("kind not set")
	}
	if !avOK || apiVersion == "" {
		return nil, fail("apiVersion not set")
	}
	k, err := api.LookupAPI(apiVersion, kind)
	if err != nil {
		return nil, fail("%v", err)
	}
	obj := k.New()
	nv, err := normalizeMessage("", m, obj.ProtoReflect().Descriptor())
	if err != nil {
		return nil, fail("%v", err)
	}
	j, err := json.Marshal(nv)
	if err != nil {
		return nil, fail("%v", err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, obj); err != nil {
		return nil, fail("%s", protojsonError(err))
	}
	api.SetTypeMeta(k, obj)
	return &Manifest{Source: source, Doc: doc, Item: item, Kind: k, Object: obj}, nil
}

var protojsonPos = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// protojsonError drops protojson's positions, which point into re-encoded JSON, not the file.
func protojsonError(err error) string {
	return protojsonPos.ReplaceAllString(err.Error(), "")
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// normalizeMessage prepares decoded JSON for protojson as Kubernetes would read it,
// guided by the message descriptor: numbers where the field is a string (quantities such
// as `cpu: 1`, label values such as `version: 2`) become strings, nulls are dropped, and
// unknown fields and booleans where a string is expected are errors naming their full
// path.
func normalizeMessage(path string, v any, md protoreflect.MessageDescriptor) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected an object, got %s", pathOr(path), jsonType(v))
	}
	out := make(map[string]any, len(m))
	fields := md.Fields()
	for key, val := range m {
		p := joinPath(path, key)
		fd := fields.ByJSONName(key)
		if fd == nil {
			return nil, fmt.Errorf("unknown field %q", p)
		}
		if val == nil {
			continue
		}
		var err error
		switch {
		case fd.IsMap():
			val, err = normalizeMap(p, val, fd.MapValue())
		case fd.IsList():
			val, err = normalizeList(p, val, fd)
		default:
			val, err = normalizeValue(p, val, fd)
		}
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

func pathOr(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

func normalizeMap(path string, v any, vd protoreflect.FieldDescriptor) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected an object, got %s", path, jsonType(v))
	}
	out := make(map[string]any, len(m))
	for key, val := range m {
		if val == nil {
			continue
		}
		nv, err := normalizeValue(joinPath(path, key), val, vd)
		if err != nil {
			return nil, err
		}
		out[key] = nv
	}
	return out, nil
}

func normalizeList(path string, v any, fd protoreflect.FieldDescriptor) (any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected an array, got %s", path, jsonType(v))
	}
	out := make([]any, 0, len(a))
	for i, val := range a {
		if val == nil {
			continue
		}
		nv, err := normalizeValue(fmt.Sprintf("%s[%d]", path, i), val, fd)
		if err != nil {
			return nil, err
		}
		out = append(out, nv)
	}
	return out, nil
}

// normalizeValue normalises one singular value (a field, a list element or a map value).
func normalizeValue(path string, v any, fd protoreflect.FieldDescriptor) (any, error) {
	mismatch := func(want string) error {
		return fmt.Errorf("%s: expected %s, got %s", path, want, jsonType(v))
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue":
			// int-or-string and free-form values: protojson takes any JSON.
			return v, nil
		case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask":
			if _, ok := v.(string); !ok {
				return nil, mismatch("a string")
			}
			return v, nil
		}
		if strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.") {
			return v, nil
		}
		return normalizeMessage(path, v, fd.Message())
	case protoreflect.StringKind:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return nil, fmt.Errorf("%s: expected a string, got a boolean (YAML reads unquoted y, yes, on and true as booleans: quote the value)", path)
		}
		return nil, mismatch("a string")
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			return nil, mismatch("a base64 string")
		}
		return v, nil
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return nil, mismatch("a boolean")
		}
		return v, nil
	case protoreflect.EnumKind:
		switch v.(type) {
		case string, json.Number:
			return v, nil
		}
		return nil, mismatch("a string")
	default: // numbers
		switch x := v.(type) {
		case json.Number:
			return x, nil
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("%s: expected a number, got %q", path, x)
			}
			return x, nil
		}
		return nil, mismatch("a number")
	}
}
