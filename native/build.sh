#!/usr/bin/env bash
# Builds native/build/libbaton_shim.so against the system's DPDK (pkg-config libdpdk).
# Rebuilds only when the source is newer than the library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build/libbaton_shim.so"
src="$here/baton_shim.c"
if ! pkg-config --exists libdpdk 2>/dev/null; then
  echo "baton: DPDK development files not found (pkg-config libdpdk)." >&2
  echo "baton: run 'bash native/setup.sh' as root, or: apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config" >&2
  exit 1
fi
if [ -f "$out" ] && [ "$out" -nt "$src" ]; then
  exit 0
fi
mkdir -p "$here/build"
# shellcheck disable=SC2046
cc -O2 -g -Wall -Wextra -Werror -fPIC -shared -o "$out.tmp" "$src" $(pkg-config --cflags --libs libdpdk)
mv "$out.tmp" "$out"
echo "baton: built $out"
