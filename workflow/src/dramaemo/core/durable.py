"""Files that survive a crash: a text replaced atomically, a rename made durable."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_directory(folder) -> None:
    """Make a rename inside ``folder`` survive a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new, whole
    (temp file beside it + fsync + ``os.replace`` + directory fsync)."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


LOG_SUFFIX = ".log.jsonl"  # an event log beside the file derived from it (labels, cast names)


class EventLog:
    """An append-only log of JSON events, one a line, shared by the tabs of one server and
    by servers on the same file: ``locked()`` holds a thread lock and a file lock
    (``fcntl.flock``); under it ``catch_up()`` returns the events others appended since
    this reader's last call and ``append()`` writes one event whole and fsyncs it before
    returning. A crash can at worst cut the last line, which was never acknowledged: the
    next reader cuts it off."""

    def __init__(self, path):
        import threading

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.Lock()
        self._descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._offset = 0  # bytes of the log already read
        self.lines = 0  # lines read or written

    def close(self) -> None:
        os.close(self._descriptor)

    @contextlib.contextmanager
    def locked(self):
        import fcntl

        with self._thread_lock:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def catch_up(self) -> list[tuple[int, dict]]:
        """(line number, event) of the events beyond what this reader has seen (caller
        holds the lock)."""
        import json
        import logging

        from dramaemo.core.errors import UserError

        size = os.fstat(self._descriptor).st_size
        if size == self._offset:
            return []
        data = os.pread(self._descriptor, size - self._offset, self._offset)
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            # Writers hold the lock until their whole line is on disk, so a partial line
            # here is a crash's remnant: never acknowledged, safe to cut.
            logging.getLogger(__name__).warning(
                "%s: dropping %d bytes of a line cut by a crash (never acknowledged)",
                self.path,
                len(data) - complete,
            )
            os.ftruncate(self._descriptor, self._offset + complete)
            os.fsync(self._descriptor)
        events = []
        for line in data[:complete].splitlines():
            self.lines += 1
            try:
                events.append((self.lines, json.loads(line)))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UserError(f"{self.path}: line {self.lines}: not a JSON event") from None
        self._offset += complete
        return events

    def append(self, event: dict) -> None:
        """Write ``event`` durably (caller holds the lock and has caught up)."""
        import json

        line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self._descriptor, line)
        if written != len(line):  # a full disk; cut what went out so the log stays whole
            os.ftruncate(self._descriptor, self._offset)
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._descriptor)
        self._offset += len(line)
        self.lines += 1
