#!/bin/sh
# tools/bench/build.sh - builds the PKCS#11 benchmark client into .cache/bench/p11bench (idempotent).
#
# Usage: tools/bench/build.sh [--force]    prints the path of the binary; rebuilds only when p11bench.c or this
#        script is newer (or with --force). Needs gcc (or CC) and /usr/include/p11-kit-1/p11-kit/pkcs11.h
#        (apt-get install libp11-kit-dev). Environment: CC (default cc), BUILD_DIR (default <root>/.cache/bench).
# The binary is compiled to a temporary file and renamed into place, so an interrupted build leaves nothing half
# written.
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH= cd -- "$script_dir/../.." && pwd)
build_dir=${BUILD_DIR:-$root/.cache/bench}
cc=${CC:-cc}
force=0
case "${1:-}" in
  --force) force=1 ;;
  '') ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

header=/usr/include/p11-kit-1/p11-kit/pkcs11.h
if [ ! -f "$header" ]; then
  echo "build: $header is missing (apt-get install libp11-kit-dev)" >&2
  exit 1
fi

mkdir -p "$build_dir"
trap 'rm -f "$build_dir"/*.tmp.$$' EXIT

binary=$build_dir/p11bench
if [ "$force" = 1 ] || [ ! -f "$binary" ] || [ "$script_dir/p11bench.c" -nt "$binary" ] || [ "$0" -nt "$binary" ]; then
  echo "build: compiling $binary" >&2
  "$cc" -std=c11 -O2 -Wall -Wextra -Werror -I/usr/include/p11-kit-1 -o "$binary.tmp.$$" "$script_dir/p11bench.c" -ldl
  mv -f "$binary.tmp.$$" "$binary"
fi
echo "$binary"
