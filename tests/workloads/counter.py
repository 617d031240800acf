"""Counts with a generator, appending `N\n` to one file kept open, every ~20 ms.

Usage: python3 counter.py COUNT_FILE
Prints `ready pid=P` on stdout once the first number is written. Each number
goes out in one write(2), so a checkpoint sees whole lines only; the file must
read 0, 1, 2, ... with no gap and no repeat, across any dump and restore.
"""

import os
import sys
import time

INTERVAL = 0.02


def numbers():
    n = 0
    while True:
        yield n
        n += 1


def main():
    out = open(sys.argv[1], "a", buffering=1)
    for n in numbers():
        out.write(f"{n}\n")
        out.flush()
        if n == 0:
            print(f"ready pid={os.getpid()}", flush=True)
        time.sleep(INTERVAL)


main()
