package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

type getOptions struct {
	output         string
	selector       string
	fieldSelector  string
	allNamespaces  bool
	watch          bool
	watchOnly      bool
	showLabels     bool
	noHeaders      bool
	ignoreNotFound bool
}

func newGetCommand(e *env) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...] | KIND/NAME...",
		Short: "Display one or many objects",
		Example: `  orchctl get pods
  orchctl get deploy web -o yaml
  orchctl get pods -A -l app=web -o wide
  orchctl get pods -w`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runGet(cmd.Context(), o, args)
		},
		ValidArgsFunction: completeKinds,
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json or name")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector (app=web,tier!=db)")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector (status.phase=Running)")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list objects across all namespaces")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes")
	f.BoolVar(&o.watchOnly, "watch-only", false, "watch for changes without listing first")
	f.BoolVar(&o.showLabels, "show-labels", false, "show the labels as the last column")
	f.BoolVar(&o.noHeaders, "no-headers", false, "do not print table headers")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat NotFound as success")
	return cmd
}

// completeKinds completes the first argument with kind plurals.
func completeKinds(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range api.Kinds {
		out = append(out, k.Plural)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func validOutput(o string) error {
	switch o {
	case "", "wide", "yaml", "json", "name":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", o)
}

// sortObjects orders a listing by namespace and name; events by when they last
// happened, oldest first, as `kubectl events` prints them.
func sortObjects(objs []api.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		if ei, ok := objs[i].(*orchv1.Event); ok {
			if ej, ok := objs[j].(*orchv1.Event); ok && !eventTime(ei).Equal(eventTime(ej)) {
				return eventTime(ei).Before(eventTime(ej))
			}
		}
		a, b := objs[i].GetMetadata(), objs[j].GetMetadata()
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

func (e *env) runGet(ctx context.Context, o *getOptions, args []string) error {
	if err := validOutput(o.output); err != nil {
		return err
	}
	refs, err := parseResourceArgs(args)
	if err != nil {
		return err
	}
	if o.watchOnly {
		o.watch = true
	}
	if o.watch && len(refs) != 1 {
		return fmt.Errorf("you may only watch a single kind at a time")
	}
	if err := e.connect(); err != nil {
		return err
	}
	if o.watch {
		return e.watchGet(ctx, o, refs[0])
	}
	var errs errorList
	var collected []api.Object
	printed := 0
	named := false
	popt := printOptions{Wide: o.output == "wide", AllNamespaces: o.allNamespaces, ShowLabels: o.showLabels, Now: time.Now()}
	for _, ref := range refs {
		k := ref.Kind
		ns := e.nsFor(k)
		if o.allNamespaces {
			ns = ""
		}
		var objs []api.Object
		if len(ref.Names) > 0 {
			named = true
			for _, name := range ref.Names {
				obj, err := e.client(k).Get(ctx, ns, name)
				if err != nil {
					if isNotFound(err) && o.ignoreNotFound {
						continue
					}
					if errs.add(e.serverError(err, "", k, name)) {
						return errs[len(errs)-1]
					}
					continue
				}
				objs = append(objs, obj)
			}
		} else {
			objs, _, err = e.client(k).List(ctx, &orchv1.ListRequest{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector})
			if err != nil {
				if errs.add(e.serverError(err, "", nil, "")) {
					return errs[len(errs)-1]
				}
				continue
			}
			sortObjects(objs)
		}
		switch o.output {
		case "yaml", "json":
			collected = append(collected, objs...)
		case "name":
			for _, obj := range objs {
				fmt.Fprintln(e.out, objectName(k, obj))
			}
			printed += len(objs)
		default:
			if len(objs) == 0 {
				continue
			}
			if printed > 0 {
				fmt.Fprintln(e.out)
			}
			t := BuildTable(k, objs, popt)
			if len(refs) > 1 {
				prefixNames(t, k, popt)
			}
			if err := t.Write(e.out, o.noHeaders); err != nil {
				return err
			}
			printed += len(objs)
		}
	}
	switch o.output {
	case "yaml", "json":
		if len(collected) > 0 || !named {
			single := len(refs) == 1 && len(refs[0].Names) == 1
			if err := printObjects(e.out, o.output, collected, single); err != nil {
				return err
			}
		}
	default:
		if printed == 0 && len(errs) == 0 && !named {
			fmt.Fprintln(e.errOut, noResources(refs[0].Kind, e.namespace, o.allNamespaces))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// prefixNames writes NAME as kind/name, as kubectl does when several kinds are listed.
func prefixNames(t Table, k *api.Kind, popt printOptions) {
	col := 0
	if popt.AllNamespaces && k.Namespaced {
		col = 1
	}
	for _, r := range t.Rows {
		r[col] = kindName(k) + "/" + r[col]
	}
}

func noResources(k *api.Kind, ns string, all bool) string {
	if all || !k.Namespaced {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", ns)
}

// watchGet lists (unless --watch-only) and then prints a row for every change, resuming
// after a dropped stream and relisting when the server no longer has the history asked for.
func (e *env) watchGet(ctx context.Context, o *getOptions, ref resourceRef) error {
	k := ref.Kind
	ns := e.nsFor(k)
	if o.allNamespaces {
		ns = ""
	}
	popt := printOptions{Wide: o.output == "wide", AllNamespaces: o.allNamespaces, ShowLabels: o.showLabels}
	wanted := func(obj api.Object) bool {
		if len(ref.Names) == 0 {
			return true
		}
		for _, n := range ref.Names {
			if obj.GetMetadata().GetName() == n {
				return true
			}
		}
		return false
	}
	st := &streamTable{w: e.out, noHeaders: o.noHeaders}
	emit := func(obj api.Object) error {
		switch o.output {
		case "name":
			_, err := fmt.Fprintln(e.out, objectName(k, obj))
			return err
		case "yaml":
			data, err := ObjectYAML(obj)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.out, "---\n%s", data)
			return err
		case "json":
			data, err := ObjectJSON(obj)
			if err != nil {
				return err
			}
			_, err = e.out.Write(data)
			return err
		}
		popt.Now = time.Now()
		t := BuildTable(k, []api.Object{obj}, popt)
		return st.write(t)
	}
	list := func() (string, error) {
		objs, rv, err := e.client(k).List(ctx, &orchv1.ListRequest{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector})
		if err != nil {
			return "", e.serverError(err, "", nil, "")
		}
		sortObjects(objs)
		if !o.watchOnly {
			for _, obj := range objs {
				if wanted(obj) {
					if err := emit(obj); err != nil {
						return "", err
					}
				}
			}
		}
		return rv, nil
	}
	rv, err := list()
	if err != nil {
		return err
	}
	backoff := 250 * time.Millisecond
	for {
		s, err := e.watchClient(k).Watch(ctx, &orchv1.WatchRequest{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err == nil {
			for {
				typ, obj, ok := s.Next()
				if !ok {
					break
				}
				backoff = 250 * time.Millisecond
				if obj == nil {
					continue
				}
				if v := obj.GetMetadata().GetResourceVersion(); v != "" {
					rv = v
				}
				if typ == api.Bookmark || !wanted(obj) {
					continue
				}
				if err := emit(obj); err != nil {
					s.Close()
					return err
				}
			}
			err = s.Err()
			s.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			// The server ended the stream (a master stepping down): resume.
		case connect.CodeOf(err) == connect.CodeOutOfRange || strings.Contains(strings.ToLower(err.Error()), "too old"):
			// History we asked for is gone: relist. Rows of the relist show current state.
			o2 := *o
			o2.watchOnly = false
			o = &o2
			if rv, err = list(); err != nil {
				return err
			}
			continue
		case connect.CodeOf(err) == connect.CodeUnavailable || connect.CodeOf(err) == connect.CodeUnknown || connect.CodeOf(err) == connect.CodeInternal:
			// Transient: a master restarting or a leader change. Retry with back-off.
		default:
			return e.serverError(err, "", nil, "")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// streamTable prints table rows one at a time, keeping columns aligned with what was
// printed before (widths only grow).
type streamTable struct {
	w         io.Writer
	noHeaders bool
	header    bool
	widths    []int
}

func (s *streamTable) write(t Table) error {
	lines := t.Rows
	if !s.header && !s.noHeaders {
		lines = append([][]string{t.Headers}, lines...)
	}
	s.header = true
	if len(s.widths) == 0 {
		for _, h := range t.Headers {
			s.widths = append(s.widths, utf8.RuneCountInString(h))
		}
	}
	for _, r := range lines {
		for i, c := range r {
			if i < len(s.widths) {
				s.widths[i] = max(s.widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	for _, r := range lines {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 && i < len(s.widths) {
				b.WriteString(strings.Repeat(" ", s.widths[i]-utf8.RuneCountInString(c)+3))
			}
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(s.w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
