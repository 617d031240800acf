#!/usr/bin/env bash
# Measures crust dump and restore of one process holding 256 MiB, 1 GiB and
# 4 GiB of touched memory, with the images on tmpfs, against the limit of the
# medium (a tmpfs write of the same size, dd bs=1M). Prints a table:
# wall time and GB/s of each (the dump's wall time includes the kernel
# freeing the killed process's memory), how long the process was frozen
# (from the dump's own summary line) and the rate that makes against the
# tmpfs write, crust's peak RSS (/usr/bin/time -v), and whether
# the restored process found every word of its memory intact.
#
# Usage: scripts/bench-dump-restore.sh [SIZE_MIB...]   (default: 256 1024 4096)
# Env:   CRUST_BIN (default target/release/crust), BENCH_DIR (default /dev/shm)
# Needs: gcc, GNU time (package `time`), root (crust seizes the process).
set -euo pipefail
cd "$(dirname "$0")/.."

# Descriptors inherited from whatever started us (a jobserver or harness
# pipe) would reach the workload, and crust refuses a pipe shared with an
# outside process: close them. 255 is bash's own hold on this script.
for fd_path in /proc/self/fd/*; do
    fd=${fd_path##*/}
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024 4096)
crust=${CRUST_BIN:-target/release/crust}
base=${BENCH_DIR:-/dev/shm}

if [ ! -x /usr/bin/time ]; then
    apt-get install -y -q time >/dev/null
fi
if [ ! -x "$crust" ]; then
    cargo build --release -p cli
fi

work=$(mktemp -d "$base/crust-bench.XXXXXX")
workload_pid=
cleanup() {
    if [ -n "$workload_pid" ] && [ -d "/proc/$workload_pid" ]; then
        kill -KILL "$workload_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

program=$work/touch-memory
gcc -O2 -Wall -o "$program" tests/workloads/big_memory.c

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v mib="$1" -v s="$2" 'BEGIN { printf "%.2f", mib / 1024 / s }'; }   # GiB/s
peak_rss_mib() { awk -F': ' '/Maximum resident set size/ { printf "%d", $2 / 1024 }' "$1"; }

# Waits up to $2 seconds for a line starting with $3 in file $1.
wait_for_line() {
    local deadline=$((SECONDS + $2))
    until grep -q "^$3" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "no '$3' in $1: $(cat "$1")" >&2; return 1; }
        sleep 0.05
    done
}

# Waits up to $2 seconds for /proc/$1 to go away.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while [ -d "/proc/$1" ]; do
        [ $SECONDS -lt $deadline ] || { echo "pid $1 still there" >&2; return 1; }
        sleep 0.05
    done
}

bench_one() {
    local mib=$1 images=$work/images-$1 out=$work/out-$1
    local scratch=$work/scratch

    # A session of its own, so that crust does not refuse it; started from a
    # subshell so that it is not this shell's job (its pid is in `ready`).
    (setsid "$program" "$mib" </dev/null >"$out" 2>&1 &)
    wait_for_line "$out" 120 ready
    workload_pid=$(grep -o '^ready pid=[0-9]*' "$out" | grep -o '[0-9]*$')

    # With the workload's memory in place: first touch of memory the host
    # took back is slow, so write and delete the working size once, then
    # measure a write of the same size, then dump at once.
    local t0 t1
    dd if=/dev/zero of="$scratch" bs=1M count="$mib" status=none
    rm -f "$scratch"
    t0=$(now)
    dd if=/dev/zero of="$scratch" bs=1M count="$mib" conv=fsync status=none
    t1=$(now)
    rm -f "$scratch"
    local tmpfs_s
    tmpfs_s=$(elapsed "$t0" "$t1")

    mkdir "$images"
    t0=$(now)
    /usr/bin/time -v -o "$work/dump-time" \
        "$crust" dump -t "$workload_pid" -D "$images" >"$work/dump-out" 2>"$work/dump-err" || {
        echo "dump of $mib MiB failed: $(cat "$work/dump-err")" >&2
        return 1
    }
    t1=$(now)
    wait_gone "$workload_pid" 30
    local dump_s frozen_ms
    dump_s=$(elapsed "$t0" "$t1")
    frozen_ms=$(grep -o 'frozen for [0-9]* ms' "$work/dump-out" | grep -o '[0-9]*' || echo '?')

    t0=$(now)
    /usr/bin/time -v -o "$work/restore-time" \
        "$crust" restore -D "$images" -d >"$work/restore-out" 2>"$work/restore-err" || {
        echo "restore of $mib MiB failed: $(cat "$work/restore-err")" >&2
        return 1
    }
    t1=$(now)
    local restore_s
    restore_s=$(elapsed "$t0" "$t1")

    kill -USR1 "$workload_pid"
    local verdict=FAIL
    if wait_for_line "$out" 120 "OK\|FAIL"; then
        grep -q '^OK' "$out" && verdict=OK
    fi
    kill -KILL "$workload_pid" 2>/dev/null || true
    wait_gone "$workload_pid" 30
    workload_pid=
    rm -rf "$images"

    local frozen_s frozen_rate
    frozen_s=$(awk -v ms="$frozen_ms" 'BEGIN { printf "%.3f", ms / 1000 }')
    frozen_rate=$(rate "$mib" "$frozen_s")
    printf '%6s MiB | %6.2f s %5.2f GiB/s | %6.2f s %5.2f GiB/s | %7s ms %5s GiB/s %4s%% | %6s MiB | %6.2f s %5.2f GiB/s | %6s MiB | %s\n' \
        "$mib" "$tmpfs_s" "$(rate "$mib" "$tmpfs_s")" \
        "$dump_s" "$(rate "$mib" "$dump_s")" "$frozen_ms" "$frozen_rate" \
        "$(awk -v a="$frozen_rate" -v b="$(rate "$mib" "$tmpfs_s")" 'BEGIN { printf "%d", 100 * a / b }')" \
        "$(peak_rss_mib "$work/dump-time")" \
        "$restore_s" "$(rate "$mib" "$restore_s")" "$(peak_rss_mib "$work/restore-time")" \
        "$verdict"
}

echo "images on $(df --output=fstype "$work" | tail -1) at $work; crust: $crust"
printf '%10s | %20s | %20s | %28s | %10s | %20s | %10s | %s\n' \
    memory "tmpfs write (dd)" "crust dump (wall)" "frozen (rate, % of tmpfs)" "dump RSS" \
    "crust restore -d" "rest. RSS" check
for mib in "${sizes[@]}"; do
    bench_one "$mib"
done
