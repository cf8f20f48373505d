#!/usr/bin/env bash
# Builds the release image (Dockerfile, on the binary of `make build`) with buildah, rootless-style
# storage under a temporary directory (vfs driver, chroot isolation: no daemon, works in CI as
# root), and checks it: user 65532:65532, port 9847, the entrypoint, that both binaries (agent,
# events role) run inside it: `--version`, and, started as in a pod without NODE_NAME, it refuses with its reason;
# no shell in the image. Unchecked here: running with a real kubelet and API server (make e2e runs
# the same binary, not the image, since there is no container engine to run it as a pod). Needs buildah (`apt-get install -y buildah`). make test-image.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v buildah >/dev/null || { echo "buildah not installed: apt-get install -y buildah" >&2; exit 1; }
for bin in ephemeral-storage-exporter ephemeral-storage-events; do
	[[ -x bin/$bin ]] || { echo "bin/$bin missing: make build" >&2; exit 1; }
done

dir="$(mktemp -d)"
b=(buildah --storage-driver vfs --root "$dir/store" --runroot "$dir/run")
ctr=""
cleanup() {
	[[ -n "$ctr" ]] && "${b[@]}" rm "$ctr" >/dev/null 2>&1 || true
	"${b[@]}" rmi -af >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

tag=localhost/ephemeral-storage-exporter:test
start=$(date +%s)
"${b[@]}" bud --quiet --isolation chroot -f Dockerfile -t "$tag" . >/dev/null
echo "built $tag in $(($(date +%s) - start))s"

user=$("${b[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
[[ "$user" == "65532:65532" ]] || fail "image user is '$user', want 65532:65532"
ports=$("${b[@]}" inspect --type image --format '{{range $p, $_ := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}' "$tag")
[[ "$ports" == "9847/tcp " ]] || fail "exposed ports '$ports', want 9847/tcp"
entry=$("${b[@]}" inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}' "$tag")
[[ "$entry" == '/bin/ephemeral-storage-exporter ' ]] || fail "entrypoint $entry"
layers=$("${b[@]}" inspect --type image --format '{{len .OCIv1.RootFS.DiffIDs}}' "$tag")
[[ "$layers" == 1 ]] || fail "$layers layers, want 1 (the binaries on scratch)"

ctr=$("${b[@]}" from --quiet "$tag")
out=$("${b[@]}" run --isolation chroot "$ctr" -- /bin/ephemeral-storage-exporter --version 2>&1) || fail "--version in the image: $out"
grep -q '^ephemeral-storage-exporter, version' <<<"$out" || fail "unexpected --version output: $out"
# The events role's binary, the command of its Deployment.
ev=$("${b[@]}" run --isolation chroot "$ctr" -- /bin/ephemeral-storage-events --version 2>&1) || fail "events --version in the image: $ev"
grep -q '^ephemeral-storage-events, version' <<<"$ev" || fail "unexpected events --version output: $ev"
help=$("${b[@]}" run --isolation chroot "$ctr" -- /bin/ephemeral-storage-exporter --help 2>&1) || fail "--help in the image: $help"
[[ "$help" == usage:* ]] || fail "--help: ${help:0:200}"
# Started as in a pod but without NODE_NAME, it must start, then refuse with its reason (exit 1).
rc=0
refuse=$("${b[@]}" run --isolation chroot "$ctr" -- /bin/ephemeral-storage-exporter 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "without a node name: exit $rc, want 1: ${refuse:0:300}"
grep -q -- '--node.name (or NODE_NAME) is required' <<<"$refuse" || fail "without a node name: ${refuse:0:300}"
# No shell in the image: nothing but the binary.
if "${b[@]}" run --isolation chroot "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then fail "the image has a shell"; fi
size=$(stat -c %s bin/ephemeral-storage-exporter)
echo "image ok: user $user, port $ports, entrypoint $entry, $layers layer, binary $((size / 1024 / 1024)) MiB, no shell, refuses to start without a node name"
echo "${out%%$'\n'*}"
