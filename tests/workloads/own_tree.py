# A small tree for the unprivileged tests: a parent with a file it wrote, a
# pipe holding bytes in flight, and a child that echoes through a pair of
# pipes; optionally MAP_SHARED anonymous memory shared with the child, and
# optionally made undumpable.
#
# usage: own_tree.py DIR UID [shm] [undumpable]
# Prints "ready" (with "shm=START-END" if asked); on SIGUSR1 checks itself and
# prints "OK pid=PID uid=UID" or "FAIL ..." with what is wrong.
import ctypes
import mmap
import os
import select
import signal
import sys

directory, expected_uid = sys.argv[1], int(sys.argv[2])
with_shm = "shm" in sys.argv[3:]
if "undumpable" in sys.argv[3:]:
    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_DUMPABLE, 0): errno {ctypes.get_errno()}")

data_path = os.path.join(directory, "data")
data = open(data_path, "w")
data.write("hello")
data.flush()

held_r, held_w = os.pipe()
os.write(held_w, b"ping")
os.set_blocking(held_r, False)

shared = None
if with_shm:
    shared = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    shared[:6] = b"before"

to_child_r, to_child_w = os.pipe()
from_child_r, from_child_w = os.pipe()
child = os.fork()
if child == 0:
    os.close(to_child_w)
    os.close(from_child_r)
    while True:
        byte = os.read(to_child_r, 1)
        if not byte:
            os._exit(0)
        if shared is not None:
            shared[:6] = b"child!"
        os.write(from_child_w, byte.upper())
os.close(to_child_r)
os.close(from_child_w)

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})


def problems():
    found = []
    if os.getuid() != expected_uid or os.geteuid() != expected_uid:
        found.append(f"uid={os.getuid()}/{os.geteuid()}")
    if data.tell() != 5:
        found.append(f"data offset {data.tell()}")
    with open(data_path) as again:
        if again.read() != "hello":
            found.append("data contents")
    try:
        in_flight = os.read(held_r, 16)
    except BlockingIOError:
        in_flight = b""
    if in_flight != b"ping":
        found.append(f"pipe held {in_flight!r}")
    if os.waitpid(child, os.WNOHANG) != (0, 0):
        found.append("child gone")
    os.write(to_child_w, b"q")
    readable, _, _ = select.select([from_child_r], [], [], 10)
    echo = os.read(from_child_r, 1) if readable else b""
    if echo != b"Q":
        found.append(f"child echoed {echo!r}")
    if shared is not None and shared[:6] != b"child!":
        found.append(f"shared memory holds {shared[:6]!r}")
    return found


ready = "ready"
if shared is not None:
    start = ctypes.addressof(ctypes.c_char.from_buffer(shared))
    ready += f" shm={start:#x}-{start + mmap.PAGESIZE:#x}"
print(ready, flush=True)
signal.sigwait({signal.SIGUSR1})
wrong = problems()
if wrong:
    print("FAIL " + "; ".join(wrong), flush=True)
else:
    print(f"OK pid={os.getpid()} uid={expected_uid}", flush=True)
while True:
    signal.pause()
