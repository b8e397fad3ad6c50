#!/usr/bin/env bash
# Builds one release archive, exactly as .github/workflows/release.yml does (it runs this script):
#   scripts/build-archive.sh OS ARCH      OS: linux|darwin|windows  ARCH: amd64|arm64
# -> dist/kubectl-eso_OS_ARCH.tar.gz (.zip on windows) and its .sha256, holding the binary, LICENSE
# and the kubectl completion helpers for both command names (`kubectl eso`, krew's `kubectl eso-chain`).
# Linux binaries are linked against glibc 2.17 (cargo-zigbuild with Zig from PyPI), so they start on
# RHEL/CentOS 7+, Amazon Linux 2, Ubuntu 16.04+; darwin and windows use the native toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
os=${1:?usage: build-archive.sh OS ARCH}
arch=${2:?usage: build-archive.sh OS ARCH}
glibc=2.17

case "$arch" in
  amd64) cpu=x86_64 ;;
  arm64) cpu=aarch64 ;;
  *) echo "build-archive: unknown arch $arch" >&2; exit 2 ;;
esac
case "$os" in
  linux) target=$cpu-unknown-linux-gnu; exe=kubectl-eso; helpers=(kubectl_complete-eso kubectl_complete-eso_chain) ;;
  darwin) target=$cpu-apple-darwin; exe=kubectl-eso; helpers=(kubectl_complete-eso kubectl_complete-eso_chain) ;;
  windows) target=$cpu-pc-windows-msvc; exe=kubectl-eso.exe; helpers=(kubectl_complete-eso.cmd kubectl_complete-eso_chain.cmd) ;;
  *) echo "build-archive: unknown os $os" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}

if [ "$os" = linux ]; then
  # Zig (from PyPI) is the C toolchain/linker that lets cargo-zigbuild target an old glibc.
  "$python" -c 'import ziglang' 2>/dev/null || "$python" -m pip install -q ziglang
  command -v cargo-zigbuild >/dev/null 2>&1 || cargo install cargo-zigbuild --locked
  rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
  cargo zigbuild --release --locked --target "$target.$glibc"
else
  cargo build --release --locked --target "$target"
fi

name=kubectl-eso_${os}_${arch}
target_dir=${CARGO_TARGET_DIR:-target}
stage=$target_dir/dist-stage/$name
rm -rf "$stage"
mkdir -p "$stage" dist
cp "$target_dir/$target/release/$exe" LICENSE "$stage/"
for h in "${helpers[@]}"; do cp "completions/$h" "$stage/"; done
chmod 755 "$stage/$exe" "$stage"/kubectl_complete-*
files=("$exe" LICENSE "${helpers[@]}")
if [ "$os" = windows ]; then
  archive=dist/$name.zip
  rm -f "$archive"
  (cd "$stage" && "$python" -m zipfile -c "$OLDPWD/$archive" "${files[@]}")
else
  archive=dist/$name.tar.gz
  # Owner and order fixed so the archive does not depend on who built it (GNU tar on Linux).
  if tar --version 2>/dev/null | grep -q GNU; then
    tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" "${files[@]}"
  else
    tar -C "$stage" -czf "$archive" "${files[@]}"
  fi
fi
if command -v sha256sum >/dev/null 2>&1; then
  (cd dist && sha256sum "$(basename "$archive")") > "$archive.sha256"
else
  (cd dist && shasum -a 256 "$(basename "$archive")") > "$archive.sha256"
fi
echo "$archive"
