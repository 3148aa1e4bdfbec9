"""Atomic file writes through Beam's FileSystems (local disk, gs://, s3://, ...).

A file is written under ``<root>/_temporary/<run_id>/`` and then renamed into place, so
readers globbing ``articles/**/*.parquet`` never see a half-written file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
import warnings
from typing import IO, Any, Callable, Optional

from apache_beam.io.filesystems import FileSystems

from transforms._s3 import reuse_s3_clients

reuse_s3_clients()  # every module that touches OUT imports this one (see transforms._s3)

TEMP_DIR = "_temporary"


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def escape_pattern(path: str) -> str:
    """``path`` with the characters FileSystems patterns read as wildcards (``*``, ``?``,
    ``[``) made literal: a user's directory is data, never a pattern."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def match_under(directory: str, *pattern: str) -> list[str]:
    """The paths matching ``pattern`` (joined parts, wildcards allowed) below ``directory``
    (taken literally), sorted."""
    with warnings.catch_warnings():  # "[[]" (a literal "[") makes re warn of a nested set
        warnings.simplefilter("ignore", FutureWarning)
        found = FileSystems.match([join(escape_pattern(directory), *pattern)])[0].metadata_list
    return sorted(m.path for m in found)


def read_json(path: str) -> Any:
    """The JSON document at ``path`` (any Beam filesystem)."""
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def unreadable(path: str) -> Optional[str]:
    """Why the file at ``path`` cannot be read (a Parquet footer, or a ``.json`` file's JSON),
    in one line; None when it can."""
    try:
        if path.endswith(".json"):
            read_json(path)
        else:
            import pyarrow.parquet as pq

            with FileSystems.open(path) as handle:
                pq.read_metadata(handle)
    except Exception as exc:  # noqa: BLE001 (whatever the reader says is the finding)
        return " ".join(str(exc).split())[:160] or type(exc).__name__
    return None


def delete(paths: list[str]) -> None:
    """Deletes files (and directory trees) by their exact paths. Beam's local file system
    reads the paths it deletes as patterns, so a local path with ``[``, ``*`` or ``?`` in
    it failed; local paths are removed directly, other schemes through FileSystems."""
    remote = [p for p in paths if "://" in p]
    for path in paths:
        if "://" in path:
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if remote:
        FileSystems.delete(remote)


def ensure_dir(path: str) -> None:
    """Creates a directory if the filesystem has directories; existing ones are fine."""
    if FileSystems.exists(path):
        return
    try:
        FileSystems.mkdirs(path)
    except IOError:
        if not FileSystems.exists(path):
            raise


def temp_dir(root: str, run_id: str) -> str:
    return join(root, TEMP_DIR, run_id)


def write_atomically(root: str, run_id: str, final_path: str, write: Callable[[IO], None]) -> None:
    """Calls ``write(handle)`` on a temporary file, then renames it to ``final_path``."""
    tmp = join(temp_dir(root, run_id), f"{uuid.uuid4().hex}.tmp")
    handle = FileSystems.create(tmp)
    try:
        write(handle)
    finally:
        handle.close()
    ensure_dir(FileSystems.split(final_path)[0])
    # A retried bundle writes the same name again: rename replaces the earlier copy
    # (os.rename on local disk, copy-then-delete on object stores).
    FileSystems.rename([tmp], [final_path])


def cleanup_temp(root: str, run_id: str) -> None:
    """Removes the run's temporary directory, and the parent when no other run uses it."""
    path = temp_dir(root, run_id)
    if FileSystems.exists(path):  # a directory on a local disk: the tree goes
        delete([path])
    elif match_under(path, "*"):
        # An object store has no directories (``exists`` is False while keys remain below):
        # the trailing slash deletes every key under the prefix.
        FileSystems.delete([path + "/"])
    parent = join(root, TEMP_DIR)
    if FileSystems.exists(parent) and not match_under(parent, "*"):
        delete([parent])


def crash_point(name: str) -> None:
    """SIGKILLs this process group when ``NEWSBEAM_CRASH_AT`` names this point.

    For the crash tests only (they start runs in a session of their own): every place a
    run can die is reachable on purpose. Unset, it costs one dictionary lookup.
    """
    if os.environ.get("NEWSBEAM_CRASH_AT") == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
