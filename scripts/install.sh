#!/usr/bin/env bash
# Installs vipd from this checkout as a systemd service.
#
#   sudo scripts/install.sh                      # /opt/vipd, /usr/local/bin/vipd, the unit, an example config
#   scripts/install.sh --dry-run                 # print what would be done, change nothing
#   scripts/install.sh --root /tmp/stage --no-npm   # stage into a directory (tests, packaging)
#
# Steps: copy the checkout to PREFIX (without node_modules, dist, .git, build output), install the
# dependencies and build there (npm ci, npm run build, then npm prune --omit=dev: the build needs
# the TypeScript compiler and node-gyp, the service does not), link BINDIR/vipd, install
# vipd.service and the hooks drop-in example, install an example /etc/vipd/vipd.yaml only when
# none exists, and run `systemctl daemon-reload`. It never enables or starts the service.
set -euo pipefail

PREFIX=/opt/vipd
BINDIR=/usr/local/bin
ROOT=
DRY=0
NPM=1
EXAMPLE=two-node-lb1.yaml
SRC=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  cat <<USAGE
usage: $0 [--prefix DIR] [--bindir DIR] [--root DIR] [--example FILE] [--no-npm] [--dry-run]
  --prefix DIR    where vipd's code goes (default /opt/vipd)
  --bindir DIR    where the vipd command is linked (default /usr/local/bin)
  --root DIR      install under DIR instead of / (no systemctl call)
  --example FILE  example config from examples/ for a new /etc/vipd/vipd.yaml (default $EXAMPLE)
  --no-npm        copy only: no npm ci / build (the checkout must already be built)
  --dry-run       print the steps, change nothing
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --bindir) BINDIR=${2:?--bindir needs a directory}; shift 2 ;;
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --example) EXAMPLE=${2:?--example needs a file name}; shift 2 ;;
    --no-npm) NPM=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
  esac
done

case "$PREFIX" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 64 ;; esac
case "$BINDIR" in /*) ;; *) echo "install.sh: --bindir must be absolute" >&2; exit 64 ;; esac
if [ -n "$ROOT" ]; then
  case "$ROOT" in /*) ;; *) echo "install.sh: --root must be absolute" >&2; exit 64 ;; esac
fi
if [ ! -f "$SRC/examples/$EXAMPLE" ]; then
  echo "install.sh: no example $EXAMPLE in $SRC/examples" >&2
  exit 66
fi

run() {
  if [ "$DRY" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

DEST=$ROOT$PREFIX
UNIT_DIR=$ROOT/etc/systemd/system
CONF_DIR=$ROOT/etc/vipd

if [ "$DRY" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or use --root DIR / --dry-run)" >&2
  exit 77
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  echo "install.sh: vipd needs Node.js 20.19 or newer on PATH" >&2
  exit 69
fi

echo "installing vipd from $SRC into $DEST"
run mkdir -p "$DEST"
# The checkout without VCS data and local build output. Files already in PREFIX that the checkout
# does not have are left in place (nothing is deleted).
if [ "$DRY" = 1 ]; then
  echo "+ copy $SRC -> $DEST (without .git node_modules dist native/build .vagrant)"
else
  (cd "$SRC" && tar -cf - --exclude=./.git --exclude=./node_modules --exclude=./dist \
      --exclude=./native/build --exclude=./.vagrant --exclude=./.ci/results.json .) |
    (cd "$DEST" && tar -xf -)
fi
if [ "$NPM" = 1 ]; then
  run npm --prefix "$DEST" ci --no-audit --no-fund
  run npm --prefix "$DEST" run build
  run npm --prefix "$DEST" prune --omit=dev --no-audit --no-fund
fi

run mkdir -p "$ROOT$BINDIR"
run ln -sfn "$PREFIX/bin/vipd.js" "$ROOT$BINDIR/vipd"
run chmod 0755 "$DEST/bin/vipd.js"

run mkdir -p "$UNIT_DIR/vipd.service.d"
if [ "$DRY" = 1 ]; then
  echo "+ install vipd.service -> $UNIT_DIR/vipd.service (ExecStart $BINDIR/vipd)"
else
  sed -e "s#/usr/local/bin/vipd#$BINDIR/vipd#g" -e "s#file:/opt/vipd/#file:$PREFIX/#" \
    "$SRC/systemd/vipd.service" > "$UNIT_DIR/vipd.service.tmp"
  chmod 0644 "$UNIT_DIR/vipd.service.tmp"
  mv "$UNIT_DIR/vipd.service.tmp" "$UNIT_DIR/vipd.service"
fi
run install -m 0644 "$SRC/systemd/vipd.service.d/hooks.conf.example" "$UNIT_DIR/vipd.service.d/hooks.conf.example"

run mkdir -p "$CONF_DIR"
run chmod 0755 "$CONF_DIR"
if [ -e "$CONF_DIR/vipd.yaml" ]; then
  echo "keeping the existing $CONF_DIR/vipd.yaml"
else
  run install -m 0600 "$SRC/examples/$EXAMPLE" "$CONF_DIR/vipd.yaml"
  echo "installed an example config at $CONF_DIR/vipd.yaml: edit it before starting vipd"
fi

if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  run systemctl daemon-reload
else
  echo "not reloading systemd (staged install or no running systemd)"
fi

cat <<NEXT
done. Next:
  vipd check --config /etc/vipd/vipd.yaml
  systemctl enable --now vipd
  vipd status
NEXT
