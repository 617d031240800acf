#!/usr/bin/env bash
# Measures crust dump and restore of process trees of 1, 10, 100 and 500
# processes (tests/workloads/sleepers.c: a root and its children, each
# holding KIB KiB of its own touched memory, sleeping) and of one process
# with 1000 threads (tests/workloads/many_threads.c), with the images on
# tmpfs. Prints a table: processes, threads, wall time of `crust dump` and of
# `crust restore -d`, how long the tree was frozen (from the dump's summary
# line, when it prints one), time per task, and whether the restored tree
# verified itself; then how each time grew from one size to the next.
#
# Usage: scripts/bench-tree.sh [PROCESSES...]   (default: 1 10 100 500)
# Env:   CRUST_BIN (default target/release/crust), BENCH_DIR (default
#        /dev/shm), KIB (memory per process, default 256), THREADS (default
#        1000; 0 skips the threaded process)
# Needs: gcc, root (crust seizes the processes).
set -euo pipefail
cd "$(dirname "$0")/.."

# Descriptors inherited from whatever started us (a jobserver or harness
# pipe) would reach the workloads, and crust refuses a pipe shared with an
# outside process: close them. 255 is bash's own hold on this script.
for fd_path in /proc/self/fd/*; do
    fd=${fd_path##*/}
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 10 100 500)
crust=${CRUST_BIN:-target/release/crust}
base=${BENCH_DIR:-/dev/shm}
kib=${KIB:-256}
threads=${THREADS:-1000}

if [ ! -x "$crust" ]; then
    cargo build --release -p cli
fi

work=$(mktemp -d "$base/crust-bench-tree.XXXXXX")
tree_pids=()
cleanup() {
    local pid
    for pid in "${tree_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$work/sleepers" tests/workloads/sleepers.c
gcc -O2 -Wall -pthread -o "$work/many_threads" tests/workloads/many_threads.c

now_ms() { echo $(($(date +%s%N) / 1000000)); }
per() { awk -v ms="$1" -v n="$2" 'BEGIN { printf "%.2f", ms / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "x%.1f", b / a; else printf "-" }'; }

# Waits up to $2 seconds for a line starting with $3 in file $1.
wait_for_line() {
    local deadline=$((SECONDS + $2))
    until grep -q "^$3" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "no '$3' in $1: $(cat "$1")" >&2; return 1; }
        sleep 0.05
    done
}

# Prints $1 and every process under it, one pid a line.
descendants() {
    local pid
    echo "$1"
    for pid in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        descendants "$pid"
    done
}

# Waits up to $1 seconds for every pid in tree_pids to go away.
wait_tree_gone() {
    local deadline=$((SECONDS + $1)) pid
    for pid in "${tree_pids[@]}"; do
        while [ -d "/proc/$pid" ]; do
            [ $SECONDS -lt $deadline ] || { echo "pid $pid still there" >&2; return 1; }
            sleep 0.05
        done
    done
}

# The first line crust printed on stderr, for a row that failed.
first_error() { head -n 1 "$1" | cut -c 1-100; }

rows=()   # "processes dump_ms restore_ms" of each tree that completed

# bench_one NAME PROCESSES THREADS PROGRAM ARGS...
bench_one() {
    local name=$1 processes=$2 thread_count=$3
    shift 3
    local out=$work/out-$name images=$work/images-$name
    local tasks=$((processes * thread_count))

    # A session of its own, so that crust does not refuse it; started from a
    # subshell so that it is not this shell's job (its pid is in `ready`).
    (setsid "$@" </dev/null >"$out" 2>&1 &)
    wait_for_line "$out" 300 ready
    local root
    root=$(grep -o '^ready pid=[0-9]*' "$out" | grep -o '[0-9]*$')
    mapfile -t tree_pids < <(descendants "$root")
    if [ "${#tree_pids[@]}" -ne "$processes" ]; then
        echo "$name: expected $processes processes, found ${#tree_pids[@]}" >&2
        return 1
    fi

    # First touch of memory the host took back is slow: write and delete
    # the working size once before timing.
    local mib=$(((processes * kib + 1023) / 1024 + 16))
    dd if=/dev/zero of="$work/scratch" bs=1M count="$mib" status=none
    rm -f "$work/scratch"

    mkdir "$images"
    local t0 t1 dump_ms restore_ms frozen_ms verdict
    t0=$(now_ms)
    if ! "$crust" dump -t "$root" -D "$images" >"$work/dump-out" 2>"$work/dump-err"; then
        printf '%9s | %6s | %7s | dump failed: %s\n' "$processes" "$thread_count" "-" \
            "$(first_error "$work/dump-err")"
        cleanup_tree
        return 0
    fi
    t1=$(now_ms)
    dump_ms=$((t1 - t0))
    frozen_ms=$(grep -o 'frozen for [0-9]* ms' "$work/dump-out" | grep -o '[0-9]*' || echo '?')
    wait_tree_gone 60

    t0=$(now_ms)
    if ! "$crust" restore -D "$images" -d >"$work/restore-out" 2>"$work/restore-err"; then
        printf '%9s | %6s | %7s | %7s | restore failed: %s\n' "$processes" "$thread_count" \
            "$dump_ms" "$frozen_ms" "$(first_error "$work/restore-err")"
        cleanup_tree
        return 0
    fi
    t1=$(now_ms)
    restore_ms=$((t1 - t0))
    mapfile -t tree_pids < <(descendants "$root")

    kill -USR1 "$root"
    verdict=FAIL
    if wait_for_line "$out" 300 "OK\|FAIL"; then
        grep -q '^OK' "$out" && verdict=OK
    fi
    cleanup_tree

    printf '%9s | %6s | %7s | %7s | %7s | %9s | %9s | %s\n' \
        "$processes" "$thread_count" "$dump_ms" "$frozen_ms" "$restore_ms" \
        "$(per "$dump_ms" "$tasks")" "$(per "$restore_ms" "$tasks")" "$verdict"
    if [ "$thread_count" -eq 1 ]; then
        rows+=("$processes $dump_ms $restore_ms")
    fi
}

# Kills what is left of the tree by pid and removes its images.
cleanup_tree() {
    local pid
    for pid in "${tree_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait_tree_gone 60 || true
    tree_pids=()
    rm -rf "$work"/images-*
}

echo "images on $(df --output=fstype "$work" | tail -1) at $work; crust: $crust;" \
    "$kib KiB touched per process"
printf '%9s | %6s | %7s | %7s | %7s | %9s | %9s | %s\n' processes threads "dump ms" \
    "frozen" "rest. ms" "dump/task" "rest/task" check
for count in "${counts[@]}"; do
    bench_one "tree-$count" "$count" 1 "$work/sleepers" "$count" "$kib"
done
if [ "$threads" -gt 0 ]; then
    bench_one "threads-$threads" 1 "$threads" "$work/many_threads" "$threads"
fi

echo
echo "growth from one tree to the next: factor, and ms per process added (linear: the"
echo "factors match and the ms per added process stay flat):"
for ((i = 1; i < ${#rows[@]}; i++)); do
    read -r count_a dump_a restore_a <<<"${rows[i - 1]}"
    read -r count_b dump_b restore_b <<<"${rows[i]}"
    printf '  %4s -> %4s processes (%6s): dump %6s (%7s ms each), restore %6s (%7s ms each)\n' \
        "$count_a" "$count_b" "$(ratio "$count_a" "$count_b")" \
        "$(ratio "$dump_a" "$dump_b")" "$(per $((dump_b - dump_a)) $((count_b - count_a)))" \
        "$(ratio "$restore_a" "$restore_b")" \
        "$(per $((restore_b - restore_a)) $((count_b - count_a)))"
done
