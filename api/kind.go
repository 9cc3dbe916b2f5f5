// Package api describes the kinds orch stores and gives generic access to their objects
// (metadata, spec, status, lists, watch events) for the server and the CLI alike.
// It holds no state and does no I/O.
package api

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Object is any stored kind: a message with api_version, kind and metadata fields.
type Object interface {
	proto.Message
	GetMetadata() *orchv1.ObjectMeta
}

// Kind describes one kind of object.
type Kind struct {
	Name       string // "Deployment"
	Plural     string // "deployments"
	Short      []string
	Namespaced bool
	APIVersion string // "apps/v1"
	HasStatus  bool

	New      func() Object
	NewList  func() proto.Message
	NewEvent func() proto.Message
}

func (k *Kind) String() string { return k.Name }

// Group is the API group of the kind ("" for the core group).
func (k *Kind) Group() string {
	if i := strings.LastIndexByte(k.APIVersion, '/'); i >= 0 {
		return k.APIVersion[:i]
	}
	return ""
}

var byName = func() map[string]*Kind {
	m := make(map[string]*Kind)
	for _, k := range Kinds {
		for _, n := range append([]string{k.Name, k.Plural, strings.TrimSuffix(k.Plural, "s")}, k.Short...) {
			m[strings.ToLower(n)] = k
		}
	}
	return m
}()

// Lookup finds a kind by kind name, plural, singular or short name, in any case
// ("Pod", "pods", "po"); "deployments.apps" is accepted too.
func Lookup(name string) (*Kind, bool) {
	n := strings.ToLower(name)
	if i := strings.IndexByte(n, '.'); i > 0 {
		n = n[:i]
	}
	k, ok := byName[n]
	return k, ok
}

// LookupAPI finds a kind by the apiVersion and kind of a manifest.
func LookupAPI(apiVersion, kind string) (*Kind, error) {
	for _, k := range Kinds {
		if k.Name == kind {
			if apiVersion != "" && apiVersion != k.APIVersion {
				return nil, fmt.Errorf("kind %s is served as apiVersion %q, not %q", kind, k.APIVersion, apiVersion)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown kind %q (known kinds: %s)", kind, strings.Join(KindNames(), ", "))
}

// KindNames lists the kind names, sorted.
func KindNames() []string {
	names := make([]string, 0, len(Kinds))
	for _, k := range Kinds {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return names
}

// KindOf returns the kind of a message, by its Go type.
func KindOf(m proto.Message) (*Kind, bool) {
	name := string(m.ProtoReflect().Descriptor().Name())
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// Meta returns the object's metadata, creating it when absent.
func Meta(o Object) *orchv1.ObjectMeta {
	if m := o.GetMetadata(); m != nil {
		return m
	}
	r := o.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("metadata")
	r.Set(fd, protoreflect.ValueOfMessage(new(orchv1.ObjectMeta).ProtoReflect()))
	return o.GetMetadata()
}

// SetTypeMeta fills apiVersion and kind.
func SetTypeMeta(k *Kind, m proto.Message) {
	setString(m, "api_version", k.APIVersion)
	setString(m, "kind", k.Name)
}

func setString(m proto.Message, field, v string) {
	r := m.ProtoReflect()
	if fd := r.Descriptor().Fields().ByName(protoreflect.Name(field)); fd != nil {
		r.Set(fd, protoreflect.ValueOfString(v))
	}
}

// Key is the store key of an object: "namespace/name", or "name" for cluster-scoped kinds.
func Key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// ObjectKey is Key for an object.
func ObjectKey(o Object) string {
	m := o.GetMetadata()
	return Key(m.GetNamespace(), m.GetName())
}

// Field returns the named top-level message field (spec, status) of an object, or nil.
func Field(o proto.Message, name string) proto.Message {
	r := o.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Message() == nil || !r.Has(fd) {
		return nil
	}
	return r.Get(fd).Message().Interface()
}

// CopyField sets field name of dst to that of src (clearing it when src has none).
func CopyField(dst, src proto.Message, name string) {
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	fd := d.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return
	}
	if s.Has(fd) {
		d.Set(fd, s.Get(fd))
	} else {
		d.Clear(fd)
	}
}

// ClearField clears a top-level field.
func ClearField(m proto.Message, name string) {
	r := m.ProtoReflect()
	if fd := r.Descriptor().Fields().ByName(protoreflect.Name(name)); fd != nil {
		r.Clear(fd)
	}
}

// Body returns a copy of the object without metadata, status and type fields: what a
// spec change is measured on (for kinds without spec, their top-level data).
func Body(o Object) proto.Message {
	c := proto.Clone(o)
	for _, f := range []string{"api_version", "kind", "metadata", "status"} {
		ClearField(c, f)
	}
	return c
}

// NewList builds the list message of a kind holding items at resourceVersion rv.
func NewList(k *Kind, items []Object, rv string) proto.Message {
	l := k.NewList()
	SetTypeMeta(k, l)
	setString(l, "kind", k.Name+"List")
	r := l.ProtoReflect()
	fields := r.Descriptor().Fields()
	r.Set(fields.ByName("metadata"), protoreflect.ValueOfMessage((&orchv1.ListMeta{ResourceVersion: rv}).ProtoReflect()))
	lst := r.Mutable(fields.ByName("items")).List()
	for _, it := range items {
		lst.Append(protoreflect.ValueOfMessage(it.ProtoReflect()))
	}
	return l
}

// ListItems returns the items of a list message.
func ListItems(l proto.Message) []Object {
	r := l.ProtoReflect()
	lst := r.Get(r.Descriptor().Fields().ByName("items")).List()
	out := make([]Object, lst.Len())
	for i := range out {
		out[i] = lst.Get(i).Message().Interface().(Object)
	}
	return out
}

// ListResourceVersion returns the resourceVersion of a list message.
func ListResourceVersion(l proto.Message) string {
	r := l.ProtoReflect()
	md := r.Get(r.Descriptor().Fields().ByName("metadata")).Message()
	return md.Interface().(*orchv1.ListMeta).GetResourceVersion()
}

// Watch event types, as in Kubernetes.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
	Bookmark = "BOOKMARK"
)

// NewEvent builds the watch event message of a kind.
func NewEvent(k *Kind, typ string, o Object) proto.Message {
	e := k.NewEvent()
	r := e.ProtoReflect()
	fields := r.Descriptor().Fields()
	r.Set(fields.ByName("type"), protoreflect.ValueOfString(typ))
	if o != nil {
		r.Set(fields.ByName("object"), protoreflect.ValueOfMessage(o.ProtoReflect()))
	}
	return e
}

// EventParts returns the type and object of a watch event message.
func EventParts(e proto.Message) (string, Object) {
	r := e.ProtoReflect()
	fields := r.Descriptor().Fields()
	typ := r.Get(fields.ByName("type")).String()
	fd := fields.ByName("object")
	if !r.Has(fd) {
		return typ, nil
	}
	return typ, r.Get(fd).Message().Interface().(Object)
}

// IntOrString reads an int-or-string value (a port by number or name, "25%").
// It returns the number when the value is a number or a decimal string.
func IntOrString(v *structpb.Value) (n int, s string, isInt bool) {
	switch x := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return int(x.NumberValue), "", true
	case *structpb.Value_StringValue:
		return 0, x.StringValue, false
	}
	return 0, "", false
}
