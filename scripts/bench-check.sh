#!/usr/bin/env bash
# Measures `crust check -t` (the blocker report) on flat trees of 1, 10, 100
# and 500 sleeping processes (tests/workloads/sleepers.c): wall time of the
# whole check, and how long the tree was frozen during it (from `-v`). The
# check reads every fd of every process on the machine once (to find pipes
# and files shared with processes outside the tree), so the machine's fd
# count is printed too. RUNS checks per tree; the median and the maximum.
#
# Usage: scripts/bench-check.sh [PROCESSES...]   (default: 1 10 100 500)
# Env:   CRUST_BIN (default target/release/crust), RUNS (default 5)
# Needs: gcc, root (crust seizes the processes to freeze them).
set -euo pipefail
cd "$(dirname "$0")/.."

# Descriptors inherited from whatever started us would reach the workloads,
# and crust refuses a pipe shared with an outside process: close them.
for fd_path in /proc/self/fd/*; do
    fd=${fd_path##*/}
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 10 100 500)
crust=${CRUST_BIN:-target/release/crust}
runs=${RUNS:-5}
[ -x "$crust" ] || cargo build --release -p cli

work=$(mktemp -d /dev/shm/crust-bench-check.XXXXXX)
root=
cleanup() {
    [ -z "$root" ] || kill -USR1 "$root" 2>/dev/null || true
    sleep 0.2
    [ -z "$root" ] || kill -KILL "$root" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -Wall -o "$work/sleepers" tests/workloads/sleepers.c

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# The median and the maximum of the numbers given.
median_max() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%d %d", v[int((NR + 1) / 2)], v[NR] }'; }

fds=$(find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
echo "fds open on the machine: $fds; $runs checks per tree"
printf '%9s | %14s | %14s | %s\n' processes "check ms (med max)" "frozen ms (med max)" verdict
for count in "${counts[@]}"; do
    out=$work/out-$count
    (setsid "$work/sleepers" "$count" 16 </dev/null >"$out" 2>&1 &)
    for _ in $(seq 600); do grep -q '^ready' "$out" 2>/dev/null && break; sleep 0.05; done
    root=$(grep -o '^ready pid=[0-9]*' "$out" | grep -o '[0-9]*$')
    walls=() frozen=() verdict=dumpable
    for _ in $(seq "$runs"); do
        t0=$(now_ms)
        if ! "$crust" check -t "$root" -v >"$work/check-out" 2>"$work/check-err"; then
            verdict="refused: $(head -n 1 "$work/check-out")"
        fi
        walls+=($(($(now_ms) - t0)))
        frozen+=("$(grep -o 'frozen for [0-9]* ms' "$work/check-err" | grep -o '[0-9]*' || echo 0)")
    done
    # The tree checks itself after the checks, and ends.
    kill -USR1 "$root"
    for _ in $(seq 600); do grep -q '^OK\|^FAIL' "$out" && break; sleep 0.05; done
    grep -q '^OK' "$out" || verdict="$verdict; the tree failed its own check: $(tail -n 1 "$out")"
    root=
    read -r wall_med wall_max <<<"$(median_max "${walls[@]}")"
    read -r frozen_med frozen_max <<<"$(median_max "${frozen[@]}")"
    printf '%9s | %9s %4s | %9s %4s | %s\n' "$count" "$wall_med" "$wall_max" "$frozen_med" \
        "$frozen_max" "$verdict"
done
