package consensus

// This file is the one place where the hashicorp libraries' loggers (hclog for
// raft, a std *log.Logger for memberlist) are bridged to the caller's slog.Logger.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter implements hclog.Logger on top of slog. Its own level gate
// (Info by default) keeps raft's debug chatter out even when the slog handler
// is at debug level.
type hclogAdapter struct {
	root    *slog.Logger // the caller's logger, without component
	l       *slog.Logger // root with component and implied args
	name    string
	implied []any
	level   *atomic.Int32 // shared by all loggers derived from one adapter
}

func newHCLogger(root *slog.Logger, name string, level hclog.Level) hclog.Logger {
	lvl := new(atomic.Int32)
	lvl.Store(int32(level))
	return newHCLoggerWith(root, name, nil, lvl)
}

func newHCLoggerWith(root *slog.Logger, name string, implied []any, level *atomic.Int32) *hclogAdapter {
	return &hclogAdapter{
		root:    root,
		l:       root.With("component", name).With(implied...),
		name:    name,
		implied: implied,
		level:   level,
	}
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return l >= hclog.Level(a.level.Load()) && a.l.Enabled(context.Background(), slogLevel(l))
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level == hclog.Off || !a.enabled(level) {
		return
	}
	a.l.Log(context.Background(), slogLevel(level), msg, renderArgs(args)...)
}

// renderArgs expands hclog.Fmt values, which raft uses for configurations.
func renderArgs(args []any) []any {
	var out []any
	for i, v := range args {
		f, ok := v.(hclog.Format)
		if !ok || len(f) == 0 {
			continue
		}
		format, ok := f[0].(string)
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		out[i] = fmt.Sprintf(format, f[1:]...)
	}
	if out == nil {
		return args
	}
	return out
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.implied }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(l hclog.Level)        { a.level.Store(int32(l)) }
func (a *hclogAdapter) GetLevel() hclog.Level         { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	implied := append(append([]any(nil), a.implied...), args...)
	return newHCLoggerWith(a.root, a.name, implied, a.level)
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	return newHCLoggerWith(a.root, a.name+"."+name, a.implied, a.level)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return newHCLoggerWith(a.root, name, a.implied, a.level)
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &stdLogWriter{l: a.l}
}

// newStdLogger returns a *log.Logger (what memberlist takes) whose lines,
// prefixed "[DEBUG]", "[WARN]", ... by convention, become slog records.
func newStdLogger(root *slog.Logger, component string) *log.Logger {
	return log.New(&stdLogWriter{l: root.With("component", component)}, "", 0)
}

type stdLogWriter struct {
	l *slog.Logger
}

var stdLogLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[TRACE]", slog.LevelDebug},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w *stdLogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		msg := strings.TrimSpace(string(line))
		if msg == "" {
			continue
		}
		level := slog.LevelInfo
		for _, c := range stdLogLevels {
			if rest, ok := strings.CutPrefix(msg, c.prefix); ok {
				level, msg = c.level, strings.TrimSpace(rest)
				break
			}
		}
		// memberlist prefixes every line with its own name; component says it.
		msg = strings.TrimPrefix(msg, "memberlist: ")
		w.l.Log(context.Background(), level, msg)
	}
	return len(p), nil
}
