"""The job commit of a batch run: its data files, its state files and its manifest become
visible together, or (after a crash) are completed by the next start.

Modelled on Hadoop's FileOutputCommitter (algorithm 1) and Spark's commit protocol:

1. **Stage.** Workers write every file of the run under ``OUT/_temporary/<run_id>/``
   (``data/<table>/...`` and ``state/<table>/...``), each one atomically (temporary name,
   then rename). Nothing a reader globs (``articles/**/*.parquet``...) lies there. The run
   claims its staging folder with an owner file (host, pid) first. Data files are written
   per bundle under names new for every attempt; the files of the bundles that succeeded
   are listed, once all have, in ``_temporary/<run_id>/_WRITTEN.json`` (the "task
   commits", ``ListWrittenFiles``): a failed attempt's files are never moved. The run's
   items and outcomes are counted the same way into ``_COUNTS.json`` (``RecordCounts``):
   the manifest's balance, counted from the elements rather than from the runner's metrics.
2. **Record.** When the pipeline has succeeded, the driver writes one commit record,
   ``_temporary/<run_id>/_COMMIT.json``: every staged file's final path, and the run's
   manifest. Writing it (atomically) is the commit point: a run without a record never
   happened; a run with one is committed, whatever happens next.
3. **Move.** The driver renames the staged files into place (data, then state), writes the
   manifest to ``runs/`` and deletes the staging folder (``transforms._files.cleanup_temp``).

Every step of 3 is idempotent (a file already moved is skipped), so a start that finds a
record completes that run's move (``recover``: "rolled forward"), and a staging folder
without a record whose owner process is gone is deleted ("abandoned": the run died before
its commit point; nothing of it was visible, and its items are fetched again).

Crash points for the tests (``transforms._files.crash_point``): with
``NEWSBEAM_CRASH_AT=<point>`` the run's process group SIGKILLs itself at ``fetch``,
``during_writes``, ``before_commit``, ``mid_commit``, ``between_data_and_state`` or
``before_manifest``.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Mapping, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas.tables import TABLES
from transforms._files import (
    TEMP_DIR,
    cleanup_temp,
    crash_point,
    ensure_dir,
    join,
    match_under,
    read_json,
    temp_dir,
    write_atomically,
)
from transforms.state import STATE_DIR
from transforms.window_records import CountOutcomes, CountsFn

DATA_DIR = "data"
RECORD = "_COMMIT.json"
OWNER = "_OWNER.json"
WRITTEN = "_WRITTEN.json"
COUNTS = "_COUNTS.json"
DATA_TABLES = ("articles", "entities", "duplicates", "stories", "failures")
STATE_TABLES = ("state_feeds", "state_seen", "state_dedup", "state_stories")


def staged_data_root(root: str, run_id: str) -> str:
    """Where a batch run's workers write its data tables (same layout as under OUT)."""
    return join(temp_dir(root, run_id), DATA_DIR)


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _write_listing(files: list, root: str, run_id: str) -> None:
    data = json.dumps(sorted(path for _, path, _ in files)).encode("utf-8")
    write_atomically(root, run_id, join(temp_dir(root, run_id), WRITTEN), lambda h: h.write(data))


class ListWrittenFiles(beam.PTransform):
    """``(table, path, rows)`` of every data file written -> ``_temporary/<run>/_WRITTEN.json``.

    Written once, when every bundle that wrote has succeeded (a combine's result is
    complete only then): the list the commit moves, and nothing else.
    """

    def __init__(self, root: str, run_id: str):
        super().__init__()
        self._root = root
        self._run_id = run_id

    def expand(self, written):
        return (written
                | "AllFiles" >> beam.combiners.ToList()
                | "WriteListing" >> beam.Map(_write_listing, self._root, self._run_id))


def _write_counts(counts: dict, root: str, run_id: str) -> None:
    data = json.dumps(counts, sort_keys=True).encode("utf-8")
    write_atomically(root, run_id, join(temp_dir(root, run_id), COUNTS), lambda h: h.write(data))


class RecordCounts(beam.PTransform):
    """A batch run's items and outcomes (``transforms.window_records.CountOutcomes``'s
    inputs) -> ``_temporary/<run>/_COUNTS.json``: ``{"items_in": n, "articles": n, ...}``.

    Written once, when every bundle has succeeded, like ``_WRITTEN.json``: a retried
    bundle's elements are counted once. ``read_counts`` gives them to the driver, whose
    manifest takes its balance from them (``pipeline.manifest.take_balance``).
    """

    def __init__(self, root: str, run_id: str):
        super().__init__()
        self._root = root
        self._run_id = run_id

    def expand(self, outcomes: dict):
        return (outcomes
                | "CountOutcomes" >> CountOutcomes()
                | "CountRun" >> beam.CombineGlobally(CountsFn())
                | "WriteCounts" >> beam.Map(_write_counts, self._root, self._run_id))


def read_counts(root: str, run_id: str) -> Optional[dict]:
    """The run's ``_COUNTS.json`` (None when the run left none, or none that reads: the
    manifest then keeps the metrics' balance and says so)."""
    try:
        return _read_json(join(temp_dir(root, run_id), COUNTS))
    except ValueError:
        return None


def plan(root: str, run_id: str) -> list[tuple[str, str]]:
    """(staged path, final path) of every file the run committed, data tables first: the data
    files ``_WRITTEN.json`` lists, and the staged state files."""
    staging = temp_dir(root, run_id)
    listing = _read_json(join(staging, WRITTEN))
    if listing is None:
        raise RuntimeError(f"run {run_id} succeeded but left no list of its data files ({WRITTEN})")
    base = join(staging, DATA_DIR)
    moves = [(path, join(root, path[len(base) + 1:])) for path in listing]
    order = {TABLES[name].directory: i for i, name in enumerate(DATA_TABLES)}
    moves.sort(key=lambda m: (order.get(m[1][len(root) + 1:].split("/", 1)[0], len(order)), m[1]))
    for name in STATE_TABLES:
        spec = TABLES[name]
        for path in match_under(join(staging, STATE_DIR, spec.directory), "*.parquet"):
            moves.append((path, join(root, STATE_DIR, spec.directory, path.rsplit("/", 1)[-1])))
    return moves


def claim(root: str, run_id: str) -> None:
    """Marks the run's staging folder as this process's (so a later start leaves it alone)."""
    owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode()
    write_atomically(root, run_id, join(temp_dir(root, run_id), OWNER), lambda h: h.write(owner))


def _read_json(path: str) -> Optional[dict]:
    """The JSON document at ``path``, None when there is no file."""
    return read_json(path) if _exists(path) else None


def write_record(root: str, run_id: str, moves: list[tuple[str, str]], manifest: Mapping[str, Any]) -> None:
    """The commit point: after this the run is committed."""
    data = json.dumps({"run_id": run_id, "moves": moves, "manifest": manifest}, default=str).encode("utf-8")
    write_atomically(root, run_id, join(temp_dir(root, run_id), RECORD), lambda h: h.write(data))


def is_state(staged: str) -> bool:
    """Whether a staged path is a state file (``_temporary/<run>/state/...``)."""
    return staged.split(f"/{TEMP_DIR}/", 1)[-1].split("/")[1:2] == [STATE_DIR]


def move(moves: list[tuple[str, str]]) -> list[str]:
    """Renames each staged file into place; one already moved is skipped. Returns the finals."""
    done = []
    for i, (src, dst) in enumerate(moves):
        if i == len(moves) // 2:
            crash_point("mid_commit")
        if is_state(src) and (i == 0 or not is_state(moves[i - 1][0])):
            crash_point("between_data_and_state")
        if _exists(src):
            ensure_dir(FileSystems.split(dst)[0])
            FileSystems.rename([src], [dst])
        elif not _exists(dst):
            raise FileNotFoundError(f"commit: neither {src} nor {dst} exists")
        done.append(dst)
    return done


def _owner_alive(owner: Optional[dict]) -> bool:
    # No owner file: not a batch run's folder (a stream's): not ours to delete. Another
    # machine's run: assume it is alive.
    if owner is None or owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError):
        return False
    except PermissionError:
        return True
    return True


def recover(root: str, write_manifest) -> dict[str, list[str]]:
    """Completes committed runs and removes abandoned ones; returns their run ids.

    ``write_manifest(root, manifest)`` writes a rolled-forward run's manifest to ``runs/``.
    """
    rolled, abandoned = [], []
    staging_root = join(root, TEMP_DIR)
    # Files one level down (every batch run's folder has its owner file); the first path
    # segment below _temporary is the run id (an object store lists every key below).
    found = {p[len(staging_root) + 1:].split("/")[0] for p in match_under(staging_root, "*", "*")}
    for folder in sorted(f for f in found if f):
        record = _read_json(join(staging_root, folder, RECORD))
        if record is not None:
            move([tuple(m) for m in record["moves"]])
            write_manifest(root, {**record["manifest"], "rolled_forward": True})
            cleanup_temp(root, folder)
            rolled.append(folder)
        elif not _owner_alive(_read_json(join(staging_root, folder, OWNER))):
            cleanup_temp(root, folder)
            abandoned.append(folder)
    return {"rolled_forward": rolled, "abandoned": abandoned}
