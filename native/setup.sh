#!/usr/bin/env bash
# Makes this machine ready for baton, idempotently: Debian packages (DPDK and
# the lab's tools), Deno from npm, and the native shim. Safe to run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

# dpkg packages baton needs: DPDK (runtime, testpmd, headers), OpenSSL headers (the
# shim's HMAC), and the lab's real endpoints/tools.
packages=(dpdk dpdk-dev libdpdk-dev pkg-config build-essential iproute2 ethtool
  nginx-light curl wrk tcpdump python3-scapy haproxy libpcap-dev libssl-dev nftables prometheus
  bird2)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "baton: missing Debian packages: ${missing[*]}" >&2
    echo "baton: installing them needs root: run this as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "baton: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "baton: apt-get could not install: ${missing[*]}" >&2
    exit 1
  fi
  # Debian starts the services it installs; baton starts its own, in its own namespaces.
  for svc in nginx haproxy prometheus bird; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
fi

# Deno, pinned, from the npm registry (package.json devDependencies).
if [ ! -x "$root/node_modules/.bin/deno" ]; then
  echo "baton: installing Deno (npm)"
  if ! (cd "$root" && npm install --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "baton: npm could not install deno; check access to the npm registry" >&2
    exit 1
  fi
fi

bash "$here/build.sh"

# Tasks call Deno as ./native/build/deno: inside `deno task`, a bare `deno`
# would resolve to node_modules/.bin/deno and be run as a script.
deno_binary="$root/node_modules/deno/deno"
[ -x "$deno_binary" ] || deno_binary="$(command -v deno || true)"
if [ -z "$deno_binary" ]; then
  echo "baton: no deno binary found (node_modules/deno/deno or on PATH)" >&2
  exit 1
fi
ln -sf "$(readlink -f "$deno_binary")" "$here/build/deno"
