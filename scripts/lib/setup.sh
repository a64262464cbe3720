# shellcheck shell=bash
# One idempotent set-up shared by ./scripts/test and ./scripts/demo:
# Debian packages, pnpm, node modules, build. Each step is skipped when nothing changed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STAMP_DIR="$ROOT/node_modules/.setup"

# What building needs (also all that ./scripts/install needs on a production host).
BUILD_DEBIAN_PACKAGES=(libpcap-dev python3 make g++)  # native addons: cap, raw-socket, msgpackr-extract
# What the lab, the end-to-end tests and the demo need on top.
DEBIAN_PACKAGES=(
  "${BUILD_DEBIAN_PACKAGES[@]}"
  iproute2 nftables ethtool procps iputils-ping   # the lab: namespaces, veth, bridge, faults, sysctl, reachability
  tcpdump                            # fixture captures and debugging
  nginx-light redis-server redis-tools apache2-utils curl  # real servers and clients
  systemd util-linux                 # systemd-analyze verify and setpriv for the unit tests
)

log() { printf '[setup] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $1 needs root (network namespaces, raw sockets, apt-get)" >&2
    exit 2
  fi
}

install_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  # Servers are started by the tests inside lab namespaces, never by apt in the root namespace.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $created_policy = 1 ] && rm -f "$policy"
  return 0
}

install_pnpm() {
  command -v pnpm >/dev/null 2>&1 && return 0
  # corepack cannot verify pnpm's signature here; npm can install it.
  log "installing pnpm"
  npm install -g --silent pnpm@10 >/dev/null
}

install_node_modules() {
  local want have=""
  want=$(cat "$ROOT/pnpm-lock.yaml" "$ROOT/package.json" "$ROOT"/packages/*/package.json "$ROOT/test/package.json" | sha256sum | cut -d' ' -f1)
  [ -f "$STAMP_DIR/modules" ] && have=$(cat "$STAMP_DIR/modules")
  [ "$want" = "$have" ] && return 0
  log "installing node modules"
  (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=silent)
  mkdir -p "$STAMP_DIR" && echo "$want" >"$STAMP_DIR/modules"
}

# The capture addon (packages/capture) is compiled by pnpm install; again when a source is newer.
build_capture_addon() {
  local dir="$ROOT/packages/capture" addon="$ROOT/packages/capture/build/Release/packet_ring.node"
  if [ -f "$addon" ] && [ -z "$(find "$dir/src" "$dir/binding.gyp" -newer "$addon" -print -quit)" ]; then return 0; fi
  log "compiling the capture addon"
  (cd "$ROOT" && pnpm --filter @tcpcopy/capture run install >/dev/null)
}

build() {
  build_capture_addon
  log "building"
  (cd "$ROOT" && pnpm exec tsc -b)
}

setup_all() {
  need_root "${1:-set-up}"
  install_debian_packages
  install_pnpm
  install_node_modules
  build
}
