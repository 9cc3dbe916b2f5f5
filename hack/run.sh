#!/usr/bin/env bash
# make run / make stop: a dev cluster (master and, as root, a worker) in the background,
# a registry on 127.0.0.1:5000 holding the busybox example image, and examples/ applied.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
mkdir -p "$run"
export PATH=$PWD/bin:$PATH
registry=127.0.0.1:5000

stop_pid() { # pidfile, what
	if [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; then
		kill -TERM "$(cat "$1")"
		for _ in $(seq 300); do kill -0 "$(cat "$1")" 2>/dev/null || break; sleep 0.1; done
		echo "$2 stopped"
	fi
	rm -f "$1"
}

stop() {
	stop_pid "$run/orchd.pid" "dev cluster"
	stop_pid "$run/registry.pid" "registry"
}

start_registry() {
	mkdir -p "$run/registry"
	cat >"$run/registry/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $PWD/$run/registry/data
http:
  addr: $registry
YML
	docker-registry serve "$run/registry/config.yml" >"$run/registry.log" 2>&1 &
	echo $! >"$run/registry.pid"
	for _ in $(seq 100); do
		curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$run/registry.log"; echo "registry did not start"; exit 1
}

start() {
	stop
	start_registry
	go run ./hack/mkimage --push "$registry/orch/busybox:latest" >/dev/null
	orchd dev --data-dir "$PWD/$run/data" >"$run/orchd.log" 2>&1 &
	echo $! >"$run/orchd.pid"
	for _ in $(seq 300); do
		if grep -q 'dev cluster ready' "$run/orchd.log"; then break; fi
		if ! kill -0 "$(cat "$run/orchd.pid")" 2>/dev/null; then cat "$run/orchd.log"; echo "orchd dev exited"; exit 1; fi
		sleep 0.1
	done
	grep -q 'dev cluster ready' "$run/orchd.log" || { cat "$run/orchd.log"; echo "orchd dev did not become ready"; exit 1; }
	if [ -w /usr/local/bin ]; then
		install -m 0755 bin/orchctl bin/orchd /usr/local/bin/
	fi
	echo "== dev cluster running (pid $(cat "$run/orchd.pid"), log $run/orchd.log)"
	orchctl get ns
	echo "== orchctl apply -f examples/ -R"
	orchctl apply -f examples/ -R
	if [ "$(id -u)" = 0 ]; then
		echo "== waiting for the web pod"
		for _ in $(seq 120); do
			orchctl get pod web --no-headers 2>/dev/null | grep -q '1/1 *Running' && break
			sleep 0.5
		done
		orchctl get pods -o wide
		ip=$(orchctl get pod web -o json | sed -n 's/.*"podIP": *"\([0-9.]*\)".*/\1/p' | head -1)
		echo "== curl http://$ip:8080/"
		curl -fsS "http://$ip:8080/"
		echo "== orchctl rollout status deployment/httpd"
		orchctl rollout status deployment/httpd --timeout 120s
		orchctl get deploy,rs -l app=httpd
	else
		echo "(not root: no worker, pods stay Pending)"
		orchctl get pods
	fi
	cat <<TXT

orch is running. Try:
  orchctl get pods -o wide
  orchctl logs web
  orchctl exec web -- ls /www
  orchctl scale deployment httpd --replicas 5
  orchctl rollout restart deployment/httpd && orchctl rollout status deployment/httpd
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
