#!/bin/sh
# tools/pcscd/run.sh - runs pcscd in the foreground with the vpcd latency fix (LD_PRELOAD of libnodelay.so).
#
# Why: Debian's vpcd driver makes every APDU cost ~44 ms (Nagle + delayed ACK, docs protocol.md section 6);
# libnodelay.so (tools/pcscd/nodelay.c) sets TCP_NODELAY on pcscd's TCP sockets and brings it under 1 ms.
#
# Usage: tools/pcscd/run.sh [--replace] [--no-fix] [--debug]
#   --replace   if a pcscd is already running, stop it first (SIGTERM, then SIGKILL after 5 s); without this
#               flag an already-running pcscd is reported and the script exits with status 3
#   --no-fix    run pcscd WITHOUT the preload (for before/after measurements)
#   --debug     pcscd --debug --apdu (logs every APDU); same as PCSCD_DEBUG=1
# Environment: PCSCD_DEBUG=1 (as --debug), PCSCD_NODELAY_VERBOSE=1 (the preload logs each socket it tunes),
#              PCSCD_BIN (default pcscd).
# It builds the preload if needed (tools/pcscd/build.sh), prints what it does and the OPENSC_CONF export line,
# then replaces itself with pcscd (exec), so its pid is pcscd's pid and Ctrl-C stops pcscd.
# Only one pcscd can run per mount namespace (its socket is /run/pcscd/pcscd.comm).
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
pcscd_bin=${PCSCD_BIN:-pcscd}
replace=0
fix=1
debug=${PCSCD_DEBUG:-0}
for argument in "$@"; do
  case "$argument" in
    --replace) replace=1 ;;
    --no-fix) fix=0 ;;
    --debug) debug=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $argument (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "pcscd-run: $*" >&2; }

if ! command -v "$pcscd_bin" >/dev/null 2>&1; then
  say "pcscd not found; install it: apt-get install pcscd vsmartcard-vpcd"
  exit 2
fi

# running_pcscd: prints the pids of running pcscd processes (pid file first, then a process-name search).
running_pcscd() {
  if [ -r /run/pcscd/pcscd.pid ]; then
    pid=$(cat /run/pcscd/pcscd.pid 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = pcscd ]; then echo "$pid"; fi
  fi
  pgrep -x pcscd 2>/dev/null || true
}

pids=$(running_pcscd | sort -u | tr '\n' ' ' | sed 's/ *$//')
if [ -n "$pids" ]; then
  if [ "$replace" != 1 ]; then
    say "pcscd is already running (pid $pids); stop it first or pass --replace"
    exit 3
  fi
  say "stopping the running pcscd (pid $pids) as --replace asked"
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  waited=0
  while [ -n "$(running_pcscd)" ] && [ "$waited" -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
  for pid in $(running_pcscd); do
    say "pcscd pid $pid ignored SIGTERM for 5 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  sleep 0.2
fi
if [ -e /run/pcscd/pcscd.comm ]; then
  say "removing stale /run/pcscd/pcscd.comm (no pcscd process owns it)"
  rm -f /run/pcscd/pcscd.comm
fi

set -- --foreground
if [ "$debug" = 1 ]; then set -- "$@" --debug --apdu; fi

if [ "$fix" = 1 ]; then
  library=$("$script_dir/build.sh" | grep 'libnodelay\.so$')
  say "preloading $library (TCP_NODELAY on pcscd's TCP sockets: the vpcd latency fix)"
  LD_PRELOAD="$library${LD_PRELOAD:+ $LD_PRELOAD}"
  export LD_PRELOAD
else
  say "WITHOUT the latency fix (--no-fix): expect ~44 ms per APDU through vpcd"
fi

say "OpenSC programs should use this project's configuration:"
echo "export OPENSC_CONF=$script_dir/opensc.conf"
say "running: ${LD_PRELOAD:+LD_PRELOAD=$LD_PRELOAD }$pcscd_bin $*"
exec "$pcscd_bin" "$@"
