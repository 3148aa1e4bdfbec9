"""The Flink cluster's SDK worker pool: two TaskManagers may both ask for worker "1-1"; a
StopWorker for that id stops only the worker whose TaskManager side is gone.

Real processes and real sockets on loopback; no cluster needed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

worker_pool = pytest.importorskip("deploy.flink.worker_pool")


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stop_worker_spares_the_other_taskmanagers_worker_of_the_same_id(monkeypatch):
    monkeypatch.setattr(worker_pool, "GRACE_SECONDS", 1.0)
    alive = socket.socket()
    alive.bind(("127.0.0.1", 0))
    alive.listen()
    pool = worker_pool.TaskManagerSafePool(use_process=True)
    live_tm, gone_tm = _sleeper(), _sleeper()
    live_key, gone_key = ("1-1", f"127.0.0.1:{alive.getsockname()[1]}"), ("1-1", f"127.0.0.1:{_closed_port()}")
    pool._workers[live_key] = live_tm
    pool._workers[gone_key] = gone_tm
    try:
        pool.StopWorker(type("Req", (), {"worker_id": "1-1"})(), None)
        deadline = time.monotonic() + 30
        while gone_key in pool._workers and time.monotonic() < deadline:  # stopped, then forgotten
            time.sleep(0.2)
        assert gone_tm.poll() is not None  # its TaskManager's endpoint is closed: stopped
        assert live_tm.poll() is None  # the live TaskManager's worker "1-1" runs on
        assert list(pool._workers) == [live_key]
    finally:
        pool.stop_all()
        alive.close()
        for proc in (live_tm, gone_tm):
            proc.kill()
            proc.wait()


def test_a_worker_that_ended_by_itself_is_reaped_not_left_a_zombie():
    pool = worker_pool.TaskManagerSafePool(use_process=True)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    pool._workers[("2-1", "127.0.0.1:1")] = done
    pool._stop_gone("2-1")
    assert pool._workers == {}
