#!/usr/bin/env bash
# make run / make stop: a dev cluster in the background with the examples applied.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
mkdir -p "$run"
pidfile=$run/orchd.pid
export PATH=$PWD/bin:$PATH

stop() {
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		kill -TERM "$(cat "$pidfile")"
		for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
		echo "dev cluster stopped"
	fi
	rm -f "$pidfile"
}

start() {
	stop
	orchd dev --data-dir "$PWD/$run/data" >"$run/orchd.log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 300); do
		if grep -q 'dev cluster ready' "$run/orchd.log"; then break; fi
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then cat "$run/orchd.log"; echo "orchd dev exited"; exit 1; fi
		sleep 0.1
	done
	grep -q 'dev cluster ready' "$run/orchd.log" || { cat "$run/orchd.log"; echo "orchd dev did not become ready"; exit 1; }
	if [ -w /usr/local/bin ]; then
		install -m 0755 bin/orchctl bin/orchd /usr/local/bin/
	fi
	echo "== dev cluster running (pid $(cat "$pidfile"), log $run/orchd.log)"
	orchctl get ns
	echo "== orchctl apply -f examples/"
	orchctl apply -f examples/
	orchctl get deploy,svc,cm,pods -A
	cat <<TXT

orch is running. Try:
  orchctl get ns
  orchctl get deploy -A -o wide
  orchctl cluster members
Stop it with: make stop
TXT
	[ -x /usr/local/bin/orchctl ] || echo "(orchctl is in $PWD/bin: export PATH=$PWD/bin:\$PATH)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
