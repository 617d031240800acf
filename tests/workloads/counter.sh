# Counts in a shell variable, appending `N` to COUNT_FILE (fd 3, opened once)
# about every 20 ms. Never forks: builtins only, and the pacing is a busy loop
# on $EPOCHREALTIME (sleep would be an external command).
#
# Usage: bash counter.sh COUNT_FILE
# Prints `ready pid=P` on stdout once the first number is written. The file
# must read 0, 1, 2, ... with no gap and no repeat, across any dump and restore.

exec 3>>"$1"
interval_us=20000
i=0
while :; do
    echo "$i" >&3
    if ((i == 0)); then
        echo "ready pid=$$"
    fi
    i=$((i + 1))
    now=${EPOCHREALTIME/./}
    next=$((now + interval_us))
    while ((now < next)); do
        now=${EPOCHREALTIME/./}
    done
done
