"""One writer per OUT: ``OUT/_LOCK.json`` while a run or a stream works.

The lock file says who holds it (run id, host, pid, start time) and when the holder last
said it was alive (``heartbeat``, rewritten every ``HEARTBEAT_SECONDS`` by a thread). A
second writer that finds it exits at once (``OutputLocked``). A lock is stale, and taken
over with a warning, when its holder is a process of this host that is gone, or when its
heartbeat is older than ``STALE_SECONDS`` (a holder on another machine that died).

On a local disk the lock is created with O_EXCL, so two starts cannot both take it. Object
stores (``s3://``, ``gs://``) have no create-if-absent through Beam's FileSystems: there the
lock is written, read back after a moment, and kept only if it is still ours, which closes
the race but for starts within that moment of each other.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from schemas.timeutil import utc_now_iso
from transforms._files import delete as delete_files
from transforms._files import ensure_dir, join

__all__ = ["OutputLock", "OutputLocked", "LOCK_NAME"]

LOG = logging.getLogger("newsbeam")
LOCK_NAME = "_LOCK.json"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0
SETTLE_SECONDS = 1.0


class OutputLocked(Exception):
    """Another run or stream writes to OUT."""


def _alive_here(owner: dict) -> Optional[bool]:
    """Whether the owner process is alive, when it is of this host (else None: unknown)."""
    if owner.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, KeyError):
        return True
    return True


class OutputLock:
    """``with OutputLock(OUT, run_id):`` around everything a writer does to OUT."""

    def __init__(self, root: str, run_id: str):
        self._root = root
        self._path = join(root, LOCK_NAME)
        self._token = uuid.uuid4().hex
        self._record = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                        "started_at": utc_now_iso(), "token": self._token}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.took_over: Optional[dict] = None

    @property
    def local(self) -> bool:
        return "://" not in self._root

    def _data(self) -> bytes:
        return json.dumps({**self._record, "heartbeat": time.time()}).encode("utf-8")

    def _read(self) -> Optional[dict]:
        try:
            with FileSystems.open(self._path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except Exception:  # noqa: BLE001 (missing, or half-written by a writer that died)
            return None if not FileSystems.exists(self._path) else {}

    def _stale(self, owner: dict) -> bool:
        if not owner:
            return True  # unreadable: its writer died while writing it
        alive = _alive_here(owner)
        if alive is not None:
            return not alive
        return time.time() - float(owner.get("heartbeat", 0)) > STALE_SECONDS

    def _create_local(self) -> bool:
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._data())
        return True

    def _write(self) -> None:
        with FileSystems.create(self._path) as handle:
            handle.write(self._data())

    def acquire(self) -> None:
        ensure_dir(self._root)
        for _ in range(2):  # a second try after taking over a stale lock
            if self.local:
                if self._create_local():
                    break
            elif not FileSystems.exists(self._path):
                self._write()
                time.sleep(SETTLE_SECONDS)
                if (self._read() or {}).get("token") == self._token:
                    break
            owner = self._read()
            if owner is None:
                continue  # released meanwhile
            if not self._stale(owner):
                raise OutputLocked(
                    f"{self._root} is being written by run {owner.get('run_id')} (pid {owner.get('pid')} on "
                    f"{owner.get('host')}, since {owner.get('started_at')}); wait for it to end, or give "
                    "another --output")
            LOG.warning("taking over the stale lock of run %s (pid %s on %s, since %s) on %s",
                        owner.get("run_id"), owner.get("pid"), owner.get("host"), owner.get("started_at"),
                        self._root)
            self.took_over = owner
            delete_files([self._path])
        else:
            raise OutputLocked(f"{self._root}: could not take its lock ({self._path})")
        self._thread = threading.Thread(target=self._beat, name="newsbeam-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if (self._read() or {}).get("token") == self._token:
                    self._write()
            except Exception:  # noqa: BLE001 (a missed heartbeat is not fatal)
                LOG.debug("lock heartbeat failed", exc_info=True)

    def release(self) -> None:
        self._stop.set()
        try:
            if (self._read() or {}).get("token") == self._token:
                delete_files([self._path])
        except Exception:  # noqa: BLE001
            LOG.warning("could not remove the lock %s", self._path, exc_info=True)

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
