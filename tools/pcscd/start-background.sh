#!/bin/sh
# tools/pcscd/start-background.sh - starts pcscd (with the vpcd latency fix) in the background for tests and CI,
# and returns once it is ready: /run/pcscd/pcscd.comm exists and vpcd listens on TCP 35963.
#
# Usage: tools/pcscd/start-background.sh [--replace] [--no-fix] [--debug]     (flags as for run.sh)
#   Stop it with tools/pcscd/stop.sh.
# Files (under <root>/.cache/pcscd/, override with PCSCD_STATE_DIR):
#   pcscd.pid   pid of the pcscd it started (run.sh execs pcscd, so the background job IS pcscd)
#   pcscd.log   pcscd's output (and run.sh's messages)
# Environment: PCSCD_START_TIMEOUT (seconds, default 10), plus everything run.sh reads.
# Exit status: 0 ready (prints the pid and the OPENSC_CONF export line); 3 a pcscd is already running (and no
# --replace); 1 pcscd exited or did not become ready in time (the log tail is printed).
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$script_dir/../.." && pwd)
state_dir=${PCSCD_STATE_DIR:-$root/.cache/pcscd}
pid_file=$state_dir/pcscd.pid
log_file=$state_dir/pcscd.log
timeout=${PCSCD_START_TIMEOUT:-10}
vpcd_port_hex=8C7B # 35963

say() { echo "pcscd-start: $*" >&2; }

mkdir -p "$state_dir"
if [ -r "$pid_file" ]; then
  old_pid=$(cat "$pid_file")
  if [ "$(cat "/proc/$old_pid/comm" 2>/dev/null || true)" = pcscd ]; then
    case " $* " in
      *" --replace "*) ;;
      *) say "pcscd started by this script is still running (pid $old_pid, $pid_file); stop.sh first or --replace"
         exit 3 ;;
    esac
  fi
  rm -f "$pid_file"
fi

# Build first, in the foreground, so a compiler error is shown here and not buried in the log.
"$script_dir/build.sh" >/dev/null

"$script_dir/run.sh" "$@" </dev/null >"$log_file" 2>&1 &
pid=$!
echo "$pid" >"$pid_file"
say "started pcscd (pid $pid), log $log_file; waiting for /run/pcscd/pcscd.comm and TCP port 35963"

# vpcd_listening: true when some socket listens on port 35963 (IPv4 or IPv6). State 0A = LISTEN.
vpcd_listening() {
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v port=":$vpcd_port_hex" '$4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }'
}

deadline=$(( $(date +%s) + timeout ))
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null && status=0 || status=$?
    rm -f "$pid_file"
    say "pcscd exited during start-up (status $status); log:"
    tail -n 20 "$log_file" >&2
    [ "$status" = 3 ] && exit 3
    exit 1
  fi
  if [ -S /run/pcscd/pcscd.comm ] && vpcd_listening; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "pcscd (pid $pid) not ready after ${timeout} s; log:"
    tail -n 20 "$log_file" >&2
    exit 1
  fi
  sleep 0.05
done

say "ready: pcscd pid $pid, vpcd listening on 35963"
echo "$pid"
echo "export OPENSC_CONF=$script_dir/opensc.conf"
