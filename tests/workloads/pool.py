"""Sums the squares of 0 .. CHUNKS * CHUNK - 1 in CHUNKS chunks on 4 worker
processes, pausing PAUSE seconds per chunk, so that work is in flight for a
few seconds.

Usage: python3 pool.py DIR MODE
  MODE `pipes`: 4 multiprocessing.Process workers (start method "fork"), each
    with its own task pipe and result pipe (multiprocessing.Pipe(duplex=False),
    plain pipes). Every chunk is sent up front, so the task pipes hold work
    not yet taken.
  MODE `pool`: a multiprocessing.Pool(4) (start method "fork") and
    imap_unordered; its queues hold POSIX semaphores (sem_open), mapped from
    /dev/shm.

Prints `ready pid=P` once the first result is in. Appends `CHUNK PARTIAL` to
DIR/progress for every result, and at the end writes `TOTAL` to DIR/total
(through a temporary name, so the file is whole when it appears).
"""

import multiprocessing
import multiprocessing.connection
import os
import sys
import time

WORKERS = 4
CHUNKS = 200
CHUNK = 1000
PAUSE = 0.1


def square_sum(chunk):
    time.sleep(PAUSE)
    start = chunk * CHUNK
    return sum(n * n for n in range(start, start + CHUNK))


def worker(tasks, results):
    while True:
        chunk = tasks.recv()
        if chunk is None:
            return
        results.send((chunk, square_sum(chunk)))


def pool_results(context):
    with context.Pool(WORKERS) as pool:
        chunks = range(CHUNKS)
        yield from zip(chunks, pool.imap(square_sum, chunks))


def pipe_results(context):
    task_ends, result_ends, processes = [], [], []
    for _ in range(WORKERS):
        task_read, task_write = context.Pipe(duplex=False)
        result_read, result_write = context.Pipe(duplex=False)
        process = context.Process(target=worker, args=(task_read, result_write))
        process.start()
        task_read.close()
        result_write.close()
        task_ends.append(task_write)
        result_ends.append(result_read)
        processes.append(process)
    owed = {}
    for chunk in range(CHUNKS):
        task_ends[chunk % WORKERS].send(chunk)
        result_end = result_ends[chunk % WORKERS]
        owed[result_end] = owed.get(result_end, 0) + 1
    for task_end in task_ends:
        task_end.send(None)
    while owed:
        for ready in multiprocessing.connection.wait(list(owed)):
            yield ready.recv()
            owed[ready] -= 1
            if owed[ready] == 0:
                del owed[ready]
    for process in processes:
        process.join()


def main():
    directory, mode = sys.argv[1], sys.argv[2]
    context = multiprocessing.get_context("fork")
    results = pool_results(context) if mode == "pool" else pipe_results(context)
    total = 0
    with open(os.path.join(directory, "progress"), "a", buffering=1) as progress:
        for count, (chunk, partial) in enumerate(results):
            total += partial
            progress.write(f"{chunk} {partial}\n")
            if count == 0:
                print(f"ready pid={os.getpid()}", flush=True)
    temporary = os.path.join(directory, "total.tmp")
    with open(temporary, "w") as out:
        out.write(f"{total}\n")
    os.rename(temporary, os.path.join(directory, "total"))


if __name__ == "__main__":
    main()
