package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictJSON replaces Connect's JSON codecs, which drop unknown fields, with ones that
// refuse them naming each by its path, as Kubernetes' strict field validation does:
// a misspelt field (`replicaz`) must not be accepted and silently ignored. Protobuf
// binary keeps unknown fields as they are: they are how a newer agent or master talks
// to an older one.
func strictJSON() connect.HandlerOption {
	return connect.WithHandlerOptions(
		connect.WithCodec(strictJSONCodec{"json"}),
		connect.WithCodec(strictJSONCodec{"json; charset=utf-8"}),
	)
}

type strictJSONCodec struct{ name string }

func (c strictJSONCodec) Name() string { return c.name }

func (c strictJSONCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.Marshal(pm)
}

func (c strictJSONCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(b) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	err := protojson.Unmarshal(b, pm)
	if err == nil {
		return nil
	}
	var unknown []string
	unknownJSONFields(b, pm.ProtoReflect().Descriptor(), "", &unknown)
	if len(unknown) == 0 {
		return err
	}
	for i, p := range unknown {
		unknown[i] = fmt.Sprintf("unknown field %q", p)
	}
	return fmt.Errorf("strict decoding error: %s", strings.Join(unknown, ", "))
}

// unknownJSONFields appends the path of every member of the JSON object raw that md
// does not declare, in key order at each level. Values that are not of the expected
// JSON shape are left to protojson's own error.
func unknownJSONFields(raw []byte, md protoreflect.MessageDescriptor, path string, out *[]string) {
	if md.FullName().Parent() == "google.protobuf" {
		return // well-known types have JSON forms of their own (Value, Timestamp, ...)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return
	}
	fields := md.Fields()
	for _, name := range sortedKeys(obj) {
		p := name
		if path != "" {
			p = path + "." + name
		}
		fd := fields.ByJSONName(name)
		if fd == nil {
			fd = fields.ByTextName(name)
		}
		if fd == nil {
			*out = append(*out, p)
			continue
		}
		v := obj[name]
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				continue
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(v, &m) == nil {
				for _, key := range sortedKeys(m) {
					unknownJSONFields(m[key], fd.MapValue().Message(), p+"["+key+"]", out)
				}
			}
		case fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind:
		case fd.IsList():
			var l []json.RawMessage
			if json.Unmarshal(v, &l) == nil {
				for i, item := range l {
					unknownJSONFields(item, fd.Message(), p+"["+strconv.Itoa(i)+"]", out)
				}
			}
		default:
			unknownJSONFields(v, fd.Message(), p, out)
		}
	}
}
