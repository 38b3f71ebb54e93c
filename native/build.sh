#!/usr/bin/env bash
# Builds native/build/libbaton_shim.so from the shim (baton_shim.c) and its
# HMAC (baton_hmac.c) against the system's DPDK (pkg-config libdpdk) and
# OpenSSL's libcrypto. Rebuilds only when a source is newer than the library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build/libbaton_shim.so"
sources=("$here/baton_shim.c" "$here/baton_hmac.c" "$here/baton_idle.c")
headers=("$here/baton_internal.h")
if ! pkg-config --exists libdpdk 2>/dev/null; then
  echo "baton: DPDK development files not found (pkg-config libdpdk)." >&2
  echo "baton: run 'bash native/setup.sh' as root, or: apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config" >&2
  exit 1
fi
if ! pkg-config --exists libcrypto 2>/dev/null; then
  echo "baton: OpenSSL development files not found (pkg-config libcrypto)." >&2
  echo "baton: run 'bash native/setup.sh' as root, or: apt-get install -y libssl-dev" >&2
  exit 1
fi
stale=0
[ -f "$out" ] || stale=1
for src in "${sources[@]}" "${headers[@]}"; do
  [ "$stale" = 1 ] || [ "$out" -nt "$src" ] || stale=1
done
if [ "$stale" = 0 ]; then
  exit 0
fi
mkdir -p "$here/build"
# shellcheck disable=SC2046
cc -O2 -g -Wall -Wextra -Werror -fPIC -shared -o "$out.tmp" "${sources[@]}" \
  $(pkg-config --cflags --libs libdpdk) -lcrypto
mv "$out.tmp" "$out"
echo "baton: built $out"
