#!/bin/sh
# tools/pcscd/build.sh - builds the pcscd helpers into .cache/pcscd/ under the project root (idempotent).
#
#   .cache/pcscd/libnodelay.so   LD_PRELOAD shim for pcscd: TCP_NODELAY on its TCP sockets (see nodelay.c)
#   .cache/pcscd/apdu-loop       PC/SC round-trip probe (see apdu-loop.c); needs libpcsclite-dev, skipped with
#                                a warning when its headers are missing
#
# Usage: tools/pcscd/build.sh [--force]     prints the path of each artefact; rebuilds only what is out of date
#        (or everything with --force). Environment: CC (default cc), BUILD_DIR (default <root>/.cache/pcscd).
# Each artefact is compiled to a temporary file and renamed into place, so a running pcscd that has the old
# library mapped is never disturbed and an interrupted build leaves no half-written file.
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$script_dir/../.." && pwd)
build_dir=${BUILD_DIR:-$root/.cache/pcscd}
cc=${CC:-cc}
force=0
case "${1:-}" in
  --force) force=1 ;;
  '') ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

mkdir -p "$build_dir"
trap 'rm -f "$build_dir"/*.tmp.$$' EXIT

# needs_build OUTPUT SOURCE...: true when OUTPUT is missing, older than a source, or --force was given.
needs_build() {
  output=$1; shift
  [ "$force" = 1 ] && return 0
  [ -f "$output" ] || return 0
  for source in "$@"; do
    [ "$source" -nt "$output" ] && return 0
  done
  return 1
}

library=$build_dir/libnodelay.so
if needs_build "$library" "$script_dir/nodelay.c" "$0"; then
  echo "build: compiling $library" >&2
  "$cc" -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o "$library.tmp.$$" "$script_dir/nodelay.c" -ldl
  mv -f "$library.tmp.$$" "$library"
fi
echo "$library"

probe=$build_dir/apdu-loop
if [ -f /usr/include/PCSC/winscard.h ]; then
  if needs_build "$probe" "$script_dir/apdu-loop.c" "$0"; then
    echo "build: compiling $probe" >&2
    cflags=$(pkg-config --cflags libpcsclite 2>/dev/null || echo "-I/usr/include/PCSC")
    libs=$(pkg-config --libs libpcsclite 2>/dev/null || echo "-lpcsclite")
    # shellcheck disable=SC2086 # word splitting of the pkg-config flags is intended
    "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror $cflags -o "$probe.tmp.$$" \
      "$script_dir/apdu-loop.c" $libs
    mv -f "$probe.tmp.$$" "$probe"
  fi
  echo "$probe"
else
  echo "build: skipping apdu-loop: /usr/include/PCSC/winscard.h missing (apt-get install libpcsclite-dev)" >&2
fi
