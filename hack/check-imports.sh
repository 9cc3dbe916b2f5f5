#!/usr/bin/env bash
# Package boundaries: cli/ never imports server/, node/ or consensus/; node/ never imports
# server/; consensus/ knows nothing of the API's kinds; client/ is shared by all and imports none of them.
set -euo pipefail
mod=github.com/orchd/orch
fail=0
check() { # package pattern, forbidden import prefixes...
	local pkg=$1; shift
	for p in $(go list "$pkg" 2>/dev/null); do
		deps=$(go list -deps "$p")
		for bad in "$@"; do
			if grep -q "^$mod/$bad\(/\|$\)" <<<"$deps"; then
				echo "$p must not import $mod/$bad"; fail=1
			fi
		done
	done
}
check ./cli/... server node consensus
check ./node/... server
check ./consensus/... server api proto node cli
check ./client/... server node cli consensus
exit $fail
