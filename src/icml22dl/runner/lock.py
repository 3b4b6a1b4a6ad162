"""An exclusive claim on a run directory, so that no run is computed twice.

Two sweeps on one results root, or two executors, may reach the same run. Before
computing, a worker takes an advisory ``flock`` on ``<run dir>/.lock``: the kernel
releases it when the holder exits, however it exits (a SIGKILL included), so a dead
worker never leaves a stale claim behind and a rerun simply takes the lock. POSIX only
(``fcntl``); on network file systems it relies on their ``flock`` support (NFSv4 has it).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunLock:
    """``with RunLock(path, blocking=False) as lock: if lock.acquired: ...``.

    Args:
        directory: the run directory (created if missing).
        blocking: wait for the holder to finish instead of giving up at once.
    """

    def __init__(self, directory: Path, blocking: bool = False) -> None:
        self.path = Path(directory) / ".lock"
        self.blocking = blocking
        self.acquired = False
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            return self
        self.acquired = True
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.uname().nodename} {os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self.acquired = False
