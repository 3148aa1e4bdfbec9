"""The Python SDK worker pool the loopback Flink cluster's TaskManagers share.

    python deploy/flink/worker_pool.py --service_port=50000

Beam's own pool (``apache_beam.runners.worker.worker_pool_main``) keeps its worker processes
in a dict keyed by the worker id the runner sends, and stops "the" worker of an id when a
runner says ``StopWorker``. The ids are not unique across TaskManagers: each TaskManager's
job bundle factory numbers its environments from 1, so with two TaskManagers both ask for
worker ``1-1``. When the first TaskManager finished its part of a job and released its
environment, Beam's pool killed the *other* TaskManager's worker, whose tasks then failed
with "SDK Harness connection lost" and Flink restarted the whole job (seen here: two-slot
runs of the same job took 29 s or 56-83 s depending on whether that race hit).

This pool is Beam's, with that one thing changed: workers are remembered per
``(worker id, control endpoint)`` (the endpoint is the TaskManager's own gRPC server, unique
while it lives), and ``StopWorker`` only stops a worker of that id whose TaskManager side
has gone: one that has exited by itself (a worker ends when its control stream closes) or
whose control endpoint no longer accepts connections. A live TaskManager's worker of the
same id is left alone. Exited workers are reaped (Beam's pool left zombies).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time

from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer, kill_process_gracefully

LOG = logging.getLogger("newsbeam.worker_pool")
GRACE_SECONDS = 10.0
_POOLS: list["TaskManagerSafePool"] = []  # the pool `start` made (it returns only the server)


def endpoint_alive(url: str, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection (the TaskManager's control server)."""
    host, _, port = url.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class TaskManagerSafePool(BeamFnExternalWorkerPoolServicer):
    """Beam's process pool, keyed by (worker id, control endpoint) instead of worker id."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, str], object] = {}
        _POOLS.append(self)

    def StartWorker(self, request, context):  # noqa: N802 (gRPC's naming)
        response = super().StartWorker(request, context)
        with self._lock:
            proc = self._worker_processes.pop(request.worker_id, None)
            if proc is not None:
                self._workers[(request.worker_id, request.control_endpoint.url)] = proc
        return response

    def StopWorker(self, request, context):  # noqa: N802
        threading.Thread(target=self._stop_gone, args=(request.worker_id,), daemon=True).start()
        return beam_fn_api_pb2.StopWorkerResponse()

    def _stop_gone(self, worker_id: str) -> None:
        deadline = time.monotonic() + GRACE_SECONDS
        while True:
            with self._lock:
                mine = [(key, proc) for key, proc in self._workers.items() if key[0] == worker_id]
            pending = []
            for key, proc in mine:
                if proc.poll() is not None:
                    self._forget(key)
                elif not endpoint_alive(key[1]):
                    pending.append((key, proc))
            if not pending:
                return
            if time.monotonic() >= deadline:
                for key, proc in pending:
                    LOG.info("stopping worker %s of %s (its TaskManager side is gone)", *key)
                    kill_process_gracefully(proc)
                    self._forget(key)
                return
            time.sleep(0.5)

    def _forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._workers.pop(key, None)

    def stop_all(self) -> None:
        with self._lock:
            procs = list(self._workers.values())
        for proc in procs:
            kill_process_gracefully(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_pool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service_port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    address, server = TaskManagerSafePool.start(use_process=True, port=args.service_port)
    LOG.info("SDK worker pool at %s", address)

    def stop(signum, frame):
        server.stop(0)
        for pool in _POOLS:
            pool.stop_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        stop(None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
