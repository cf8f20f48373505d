#!/usr/bin/env bash
# image.sh BINARY NAME OUT.tar: writes a one-layer OCI image layout (tar) by hand, no registry or
# builder needed: the static BINARY as /e2e-image, the entrypoint, user 65532, linux/amd64 (or the
# host's arch). `ctr -n k8s.io images import OUT.tar` names it NAME (io.containerd.image.name).
set -euo pipefail
bin=${1:?binary} name=${2:?image name} out=${3:?output tar}
arch=$(go env GOARCH 2>/dev/null || echo amd64)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/rootfs/tmp" "$d/oci/blobs/sha256"
install -m 0755 "$bin" "$d/rootfs/e2e-image"
chmod 1777 "$d/rootfs/tmp"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d/rootfs" -cf "$d/layer.tar" .

blob() { # blob FILE: store FILE as a blob, print "digest size"
  local dg sz
  dg=$(sha256sum "$1" | cut -d' ' -f1)
  sz=$(stat -c %s "$1")
  cp "$1" "$d/oci/blobs/sha256/$dg"
  echo "$dg $sz"
}
read -r layer_dg layer_sz < <(blob "$d/layer.tar")
cat >"$d/config.json" <<EOF
{"architecture":"$arch","os":"linux","config":{"User":"65532:65532","Entrypoint":["/e2e-image"],"WorkingDir":"/","Env":["PATH=/"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_dg"]},"history":[{"created_by":"hack/e2e/image.sh"}]}
EOF
read -r cfg_dg cfg_sz < <(blob "$d/config.json")
cat >"$d/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cfg_dg","size":$cfg_sz},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer_dg","size":$layer_sz}]}
EOF
read -r man_dg man_sz < <(blob "$d/manifest.json")
cat >"$d/oci/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$man_dg","size":$man_sz,"platform":{"architecture":"$arch","os":"linux"},"annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"${name##*:}"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d/oci" -cf "$out" oci-layout index.json blobs
echo "image $name: manifest sha256:$man_dg, layer $layer_sz bytes -> $out"
