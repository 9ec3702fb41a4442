"""One writer per store: an operating-system lock (``flock``) on a file inside the store directory.

The kernel drops a ``flock`` when its holder exits, however it exits (``kill -9`` included), so a
killed run never leaves a stale lock. The lock file names its holder (pid, host, start time) for
the error a second writer gets. Limits: ``flock`` is advisory and per host; on network
filesystems that do not carry it across hosts (some NFS set-ups) two hosts could both take it, so
run one writer per store there by hand. A multi-host ``jax.distributed`` run locks from process 0,
the only process that writes.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from collections.abc import Iterator

LOCK_NAME = ".dyntheory.lock"


class StoreLockedError(RuntimeError):
    """Another process is writing this store."""


def holder(directory: str) -> dict | None:
    """Who holds (or last held) the lock of ``directory``, as written by ``hold``."""
    try:
        with open(os.path.join(directory, LOCK_NAME)) as f:
            return json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def hold(directory: str, where: str = "train") -> Iterator[None]:
    """Hold ``directory``'s write lock for the block; raise ``StoreLockedError`` at once if another
    process holds it."""
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        who = holder(directory) or {}
        raise StoreLockedError(
            f"{where}: store {directory!r} is being written by another process (pid {who.get('pid', '?')} "
            f"on host {who.get('host', '?')}, started {who.get('started', '?')}); one writer per store: wait "
            "for it to finish, or choose another store") from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def clear_except_lock(directory: str) -> None:
    """Empty ``directory`` but its lock file (``overwrite``): removing the file would let a second
    writer lock a new one while this process still holds the old."""
    import shutil
    for name in os.listdir(directory):
        if name == LOCK_NAME:
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
