"""NER in a process of its own: one child per worker process, fed batches over a pipe.

    parent (an SDK worker)                         child (python -m transforms._ner_process)
    TaggerProcess(model).tag(pieces, batch_size) -> nlp.pipe(pieces) -> [[Mention, ...], ...]

Why not in the worker itself: spaCy's parser code drops and retakes the GIL many times per
document, and an SDK worker has a dozen other threads (gRPC channels, state and data
handlers, progress) to hand it to; the worker also runs with small malloc thresholds
(``pipeline.cli``) that keep a long run's memory flat but make each of spaCy's many
short-lived arrays a fresh mapping. NER alone took 23.2 s on this machine's benchmark texts
and 26.8 s with those thresholds (medians of three); inside the worker it took 29 s. The child has one
thread and glibc's default malloc, and only Mention tuples (no Doc) come back.

Only plain data crosses the pipe (pickled lists of str, of Mention tuples). A child
that dies is started again at the next batch; the batch it was on fails (the caller's
dead letter keeps the articles). The child ignores Ctrl-C (the launcher stops the run) and
ends when its parent closes the pipe.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO, Optional

from transforms._entity_keys import Mention

__all__ = ["TaggerProcess"]

_LEN = struct.Struct("!Q")
# The worker's small thresholds (pipeline.cli.MALLOC_SETTINGS) are not the child's: its
# memory is one batch of pieces and the model, whatever the run's size.
_NOT_INHERITED = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("the other end closed the pipe")
    size = _LEN.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end closed the pipe mid-message")
    return pickle.loads(data)


class TaggerProcess:
    """A spaCy NER pipeline (``load_ner_pipeline(model)``) in a child process.

    ``lang`` is the pipeline's language. ``tag(pieces, batch_size)`` returns each piece's
    cleaned mentions (offsets into the piece). Thread-safe (one batch at a time).
    """

    def __init__(self, model: str, blas: str = "numpy"):
        self._model = model
        self._blas = blas
        self._lock = threading.Lock()
        self._child: Optional[subprocess.Popen] = None
        self.lang = self._start()

    def _start(self) -> str:
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._child = subprocess.Popen(
            [sys.executable, "-m", "transforms._ner_process", self._model, self._blas],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        reply = self._read()
        return reply["lang"]

    def _read(self) -> Any:
        try:
            reply = _receive(self._child.stdout)
        except EOFError:
            code = self._child.wait()
            self._child = None
            raise RuntimeError(f"the NER process ended (exit status {code})") from None
        if isinstance(reply, dict) and "error" in reply:
            raise RuntimeError(f"the NER process failed: {reply['error']}")
        return reply

    def tag(self, pieces: list[str], batch_size: int) -> list[list[Mention]]:
        if not pieces:
            return []
        with self._lock:
            if self._child is None or self._child.poll() is not None:
                self._start()
            try:
                _send(self._child.stdin, (pieces, batch_size))
            except BrokenPipeError:
                self._child = None
                raise RuntimeError("the NER process ended before the batch reached it") from None
            return [[Mention(*m) for m in found] for found in self._read()]

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stdin.close()
            child.wait(timeout=30)

    def __del__(self) -> None:
        child = getattr(self, "_child", None)
        try:
            if child is not None and child.poll() is None:
                child.kill()
        except Exception:  # noqa: BLE001 (at interpreter exit; the child ends on EOF anyway)
            pass


def _serve(model: str, blas: str) -> None:
    from transforms._spacy import load_ner_pipeline, mentions_of

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by a library must not enter the pipe
    try:
        nlp = load_ner_pipeline(model, blas)
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which raises it)
        _send(replies, {"error": f"{type(exc).__name__}: {exc}"})
        return
    _send(replies, {"lang": nlp.lang})
    while True:
        try:
            pieces, batch_size = _receive(requests)
        except EOFError:
            return
        try:
            nlp.max_length = max(nlp.max_length, *(len(p) + 1 for p in pieces), 1)
            found = [[tuple(m) for m in mentions_of(doc)] for doc in nlp.pipe(pieces, batch_size=batch_size)]
        except Exception as exc:  # noqa: BLE001 (this batch fails; the process goes on)
            _send(replies, {"error": f"{type(exc).__name__}: {exc}"})
            continue
        _send(replies, found)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "numpy")
