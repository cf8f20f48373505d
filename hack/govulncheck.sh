#!/usr/bin/env bash
# govulncheck against the Go vulnerability database, offline: vuln.go.dev is not reachable from
# CI, but the database's source (golang.org/x/vulndb, OSV files) is served by the Go module proxy;
# its own indexdb tool turns it into the database layout govulncheck reads with -db file://.
set -euo pipefail
VULN_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GO=${GO:-go}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ese-vulndb/$VULNDB_VERSION"
gobin="$($GO env GOPATH)/bin"
[ -x "$gobin/govulncheck" ] || $GO install golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION
if [ ! -f "$cache/index/db.json" ]; then
	[ -x "$gobin/indexdb" ] || $GO install golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION
	src="$($GO mod download -json golang.org/x/vulndb@$VULNDB_VERSION | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
	rm -rf "$cache" && mkdir -p "$cache"
	"$gobin/indexdb" -vulns "$src/data/osv" -out "$cache"
fi
# Fail on any reachable finding that hack/govulncheck-allow.txt does not list (and explain).
out="$("$gobin/govulncheck" -db "file://$cache" "$@" ./... || true)"
echo "$out"
found="$(echo "$out" | sed -n 's/^Vulnerability #[0-9]*: \(GO-[0-9-]*\)$/\1/p' | sort -u)"
allowed="$(grep -v '^#' "$(dirname "$0")/govulncheck-allow.txt" | sort -u)"
new="$(comm -23 <(echo "$found") <(echo "$allowed") | sed '/^$/d')"
if [ -n "$new" ]; then
	echo "govulncheck: new reachable vulnerabilities, not in hack/govulncheck-allow.txt:" $new >&2
	exit 1
fi
echo "govulncheck: $(echo "$found" | sed '/^$/d' | wc -l) reachable findings, all listed in hack/govulncheck-allow.txt"
