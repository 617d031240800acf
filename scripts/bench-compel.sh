#!/bin/sh
# compel's costs on this machine: infect + cure latency (median of 1000) and
# the memory drain rate through the parasite for 1 GiB, against pread of
# /proc/PID/mem and a tmpfs write of the same size, all in one run.
#
# usage: scripts/bench-compel.sh [ITERATIONS] [SIZE_MIB] [TMPFS_DIR]
set -eu
cd "$(dirname "$0")/.."
cargo build --quiet --release -p compel --example bench
exec target/release/examples/bench "${1:-1000}" "${2:-1024}" "${3:-/dev/shm}"
