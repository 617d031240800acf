# A pipeline of real programs under one bash: a subshell counting 0, 1, 2, ...
# one line every 10 ms (with an external `sleep` each time), `tee` copying the
# lines into the file `count`, and `cat` throwing the copy away. Four
# long-lived processes, two pipes with lines in flight, and short-lived
# `sleep` processes coming and going.
#
# Usage: bash -c "$(cat pipeline.sh)" bash DIR
# Prints `ready pid=P` (bash's pid), then counts in DIR/count until a file
# DIR/stop appears; then the whole pipeline ends. The count must read 0, 1,
# 2, ... with no gap and no repeat, across any dump and restore.

cd "$1" || exit 1
echo "ready pid=$$"
i=0
while [ ! -e stop ]; do
    echo "$i"
    i=$((i + 1))
    sleep 0.01
done | tee count | cat >/dev/null
