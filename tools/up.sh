#!/bin/sh
# tools/up.sh (`npm run up`): one command from a fresh clone to a running HSM that PC/SC and OpenSC can see.
#
#   1. Debian packages pcscd, vsmartcard-vpcd, opensc, opensc-pkcs11, pcsc-tools (installed with apt-get when
#      run as root; otherwise the command to run is printed and the HSM still starts, serving its local socket);
#   2. npm ci when node_modules is missing;
#   3. pcscd with the vpcd stall fix in the background (unless a pcscd already runs: then it is used as is and a
#      warning says the fix may be missing);
#   4. the HSM in the foreground (`npm start`, arguments passed on). Ctrl-C stops the HSM; pcscd keeps running
#      (tools/pcscd/stop.sh stops it).
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
say() { echo "up: $*" >&2; }

packages="pcscd vsmartcard-vpcd opensc opensc-pkcs11 pcsc-tools gcc libc6-dev"
missing=""
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    say "missing Debian packages:$missing"
    say "install them with: sudo apt-get install$missing   (the HSM starts anyway and serves its local socket)"
  fi
fi

if [ ! -d node_modules ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

if command -v pcscd >/dev/null 2>&1; then
  if [ -S /run/pcscd/pcscd.comm ]; then
    say "a pcscd is already running; using it (start it with 'npm run pcscd' for the vpcd stall fix)"
  else
    tools/pcscd/start-background.sh || say "pcscd did not start; see .cache/pcscd/pcscd.log"
  fi
fi
say "for OpenSC tools: export OPENSC_CONF=$root/tools/pcscd/opensc.conf"
exec npm start -- "$@"
