#!/usr/bin/env bash
# A release, rehearsed locally (run by .ci/run): build the linux/amd64 archive exactly as the release
# workflow does (scripts/build-archive.sh), render the krew manifest from .krew.yaml with the
# archive's real sha256 (scripts/render-krew-manifest.py), install it the way krew does into a
# temporary KREW_ROOT (scripts/krew-install.py: checksum, extract, files, bin, kubectl-eso_chain
# link), then, with only krew's bin directory and kubectl on PATH, run `kubectl eso-chain --version`,
# `kubectl eso-chain sandbox --list` and a completion through kubectl. Prints the binary and archive
# sizes, the highest glibc symbol version the binary needs and the sha256 in the manifest, and
# fails when the glibc baseline (2.17) or the archive budget (10 MB) is exceeded.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
max_archive_bytes=$((10 * 1000 * 1000))
max_glibc=2.17

version=v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
"$python" -c 'import yaml' 2>/dev/null || "$python" -m pip install -q pyyaml
kubectl=$(command -v kubectl) || { echo "release-rehearsal: kubectl is not on PATH" >&2; exit 1; }

echo "== build (scripts/build-archive.sh linux amd64, as the release workflow)"
start=$(date +%s)
archive=$(scripts/build-archive.sh linux amd64 | tail -n1)
echo "release build and packaging took $(($(date +%s) - start)) s"
binary=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/kubectl-eso

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== render the krew manifest ($version)"
"$python" scripts/render-krew-manifest.py --tag "$version" --archives dist --partial > "$work/eso-chain.yaml"
manifest_sha=$("$python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["platforms"][0]["sha256"])' "$work/eso-chain.yaml")

echo "== install as krew does"
link=$("$python" scripts/krew-install.py "$work/eso-chain.yaml" --archives dist --root "$work/krew")
echo "linked $link"
# kubectl >= 1.26 runs kubectl_complete-<plugin> from PATH; the manifest's caveat tells users to
# copy it next to krew's link. Do exactly that.
cp "$(dirname "$(readlink -f "$link")")/kubectl_complete-eso_chain" "$work/krew/bin/"

# Only krew's bin directory and kubectl (through a directory holding nothing else) on PATH.
mkdir -p "$work/kubectl-only" "$work/home"
ln -s "$kubectl" "$work/kubectl-only/kubectl"
run() { env -i HOME="$work/home" PATH="$work/krew/bin:$work/kubectl-only" "$@"; }

echo "== kubectl eso-chain --version"
out=$(run kubectl eso-chain --version)
echo "$out"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
grep -q "${version#v}" <<<"$out" && grep -q "$commit" <<<"$out" \
  || { echo "release-rehearsal: --version does not name ${version#v} and commit $commit" >&2; exit 1; }

echo "== kubectl eso-chain sandbox --list"
out=$(run kubectl eso-chain sandbox --list)
echo "$out"
grep -q vault-policy-removed <<<"$out" || { echo "release-rehearsal: sandbox --list lacks the scenarios" >&2; exit 1; }

echo "== completion through kubectl: kubectl __complete eso-chain sc"
minor=$(run kubectl version --client -o json 2>/dev/null | "$python" -c 'import json, sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))' || echo 0)
if [ "$minor" -ge 26 ]; then
  out=$(run kubectl __complete eso-chain sc)
else
  # kubectl before 1.26 has no plugin completion: call the helper as kubectl would, and say so.
  echo "kubectl 1.$minor predates plugin completion (1.26): running the helper as kubectl would"
  out=$(run "$work/krew/bin/kubectl_complete-eso_chain" sc)
fi
echo "$out"
grep -qx scope <<<"$out" || { echo "release-rehearsal: completing 'sc' did not offer scope" >&2; exit 1; }

echo "== what was shipped"
binary_bytes=$(stat -c %s "$binary")
archive_bytes=$(stat -c %s "$archive")
glibc=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n1)
echo "binary (stripped): $binary_bytes bytes ($((binary_bytes / 1000)) kB)"
echo "archive $(basename "$archive"): $archive_bytes bytes ($((archive_bytes / 1000)) kB)"
echo "highest glibc symbol version: GLIBC_$glibc"
echo "sha256 in the manifest: $manifest_sha"
[ "$manifest_sha" = "$(cut -d' ' -f1 "$archive.sha256")" ] || { echo "release-rehearsal: manifest sha256 differs from the archive's" >&2; exit 1; }
[ "$(printf '%s\n%s\n' "$glibc" "$max_glibc" | sort -t. -k1,1n -k2,2n -k3,3n | tail -n1)" = "$max_glibc" ] \
  || { echo "release-rehearsal: the binary needs GLIBC_$glibc, above the $max_glibc baseline" >&2; exit 1; }
[ "$archive_bytes" -le "$max_archive_bytes" ] \
  || { echo "release-rehearsal: archive is $archive_bytes bytes, above the $max_archive_bytes budget" >&2; exit 1; }
echo "release rehearsal: ok"
