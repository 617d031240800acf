"""Holds an SQLite database in the middle of a `BEGIN EXCLUSIVE` transaction.

Usage: python3 sqlite_exclusive.py DIR
Makes DIR/db.sqlite with a table `t` holding the row 'before', opens an
exclusive transaction and inserts 'during' in it, prints `ready pid=P`, and
waits. SQLite holds the transaction with POSIX locks on the database file, so
meanwhile any other connection is told "database is locked". On SIGUSR1 it
commits and prints `OK pid=P rows=before,during` (or `FAIL ...` with what it
found), then waits to be killed.
"""

import os
import signal
import sqlite3
import sys


def main():
    path = os.path.join(sys.argv[1], "db.sqlite")
    # SIGUSR1 stays blocked and is taken with sigwait: no window in which it
    # could come between a check and a pause.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    db = sqlite3.connect(path, isolation_level=None, timeout=0)
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute("INSERT INTO t VALUES ('before')")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("INSERT INTO t VALUES ('during')")
    print(f"ready pid={os.getpid()}", flush=True)

    signal.sigwait({signal.SIGUSR1})
    try:
        db.execute("COMMIT")
        rows = [row[0] for row in db.execute("SELECT x FROM t ORDER BY rowid")]
        verdict = "OK" if rows == ["before", "during"] else "FAIL"
        print(f"{verdict} pid={os.getpid()} rows={','.join(rows)}", flush=True)
    except sqlite3.Error as error:
        print(f"FAIL pid={os.getpid()} {error}", flush=True)
    while True:
        signal.pause()


main()
