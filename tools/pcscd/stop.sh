#!/bin/sh
# tools/pcscd/stop.sh - stops the pcscd that tools/pcscd/start-background.sh started (and only that one).
#
# Usage: tools/pcscd/stop.sh
#   Reads <root>/.cache/pcscd/pcscd.pid (or $PCSCD_STATE_DIR/pcscd.pid), checks the pid is still a pcscd, sends
#   SIGTERM, waits up to 5 s, then SIGKILL; removes the pid file. Exit 0 also when nothing was running.
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$script_dir/../.." && pwd)
state_dir=${PCSCD_STATE_DIR:-$root/.cache/pcscd}
pid_file=$state_dir/pcscd.pid

say() { echo "pcscd-stop: $*" >&2; }

if [ ! -r "$pid_file" ]; then
  say "no pid file ($pid_file): nothing to stop"
  exit 0
fi
pid=$(cat "$pid_file")
if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != pcscd ]; then
  say "pid $pid is not running pcscd any more; removing the stale pid file"
  rm -f "$pid_file"
  exit 0
fi

say "stopping pcscd (pid $pid)"
kill -TERM "$pid"
waited=0
while [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = pcscd ] && [ "$waited" -lt 50 ]; do
  sleep 0.1
  waited=$((waited + 1))
done
if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = pcscd ]; then
  say "pcscd (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
  rm -f /run/pcscd/pcscd.comm
fi
rm -f "$pid_file"
say "stopped"
