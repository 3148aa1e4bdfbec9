"""The ``newsbeam`` command.

    newsbeam run --feeds FEEDS --output OUT [beam options]   ingest feeds into OUT
    newsbeam stream --feeds FEEDS --output OUT [--poll_interval S] [--window S] [--max_polls N]
                                                              poll continuously, a window at a time
    newsbeam demo [--output OUT]                              serve samples/ on loopback, ingest, summarise
    newsbeam summary OUT                                      summarise a dataset with DuckDB
    newsbeam report OUT [--run_id ID] [--html PATH]           one HTML page of a run: funnel, sources,
                                                              duplicates, stories, entities, failures, timings
    newsbeam doctor OUT [--repair]                            find unreadable files; --repair moves them aside
    newsbeam --feeds FEEDS --output OUT [beam options]       same as `run` (for launchers)

Exit status: 0 done, 1 the run failed, 2 a usage error (nothing written), 3 nothing could be
ingested (every feed or every item failed), 4 another run or stream holds OUT, 130 interrupted.

``run`` with no ``--runner`` uses the FnApiRunner, the engine the DirectRunner runs on
locally (naming it skips the DirectRunner's attempt to download Prism, which fails
offline), with one SDK worker process per core (``every_core``). Any Beam runner works:
``--runner=FlinkRunner|SparkRunner|DataflowRunner``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shlex
import signal
import sys
import time
import uuid
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, fn_runner

from pipeline import commit
from pipeline.graph import build
from pipeline.lock import OutputLock, OutputLocked
from pipeline.manifest import build_manifest, collect_metrics, differing_counts, take_balance, write_manifest
from pipeline.options import NewsOptions, parse_options
from pipeline.progress import ProgressDisplay
from pipeline.validate import UsageError, check_options
from schemas.timeutil import utc_now_iso
from transforms._files import cleanup_temp, crash_point
from transforms.state import compact_state, prune_dedup_index, prune_story_index
from transforms.window_records import window_balance

LOG = logging.getLogger("newsbeam")
DEFAULT_LOCAL_RUNNER = "FnApiRunner"


class RunOutcome(NamedTuple):
    run_id: str
    output: str
    manifest: dict
    manifest_path: str


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def local_workers() -> int:
    """The cores this process may run on (its CPU affinity, so a container's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def every_core(options, argv: list[str]) -> None:
    """No ``--runner``: the FnApiRunner with one SDK worker process per core.

    A run's CPU goes to extraction and NER, which hold the GIL: threads do not help, and
    one in-process worker used one core. The FnApiRunner's ``multi_processing`` mode runs
    ``--direct_num_workers`` SDK worker processes and splits each stage's input between
    them. A runner named on the command line, or ``--direct_num_workers`` /
    ``--direct_running_mode`` given, is left exactly as Beam defines it.
    """
    standard = options.view_as(StandardOptions)
    if standard.runner:
        return
    standard.runner = DEFAULT_LOCAL_RUNNER
    if any(a.startswith(("--direct_num_workers", "--direct_running_mode")) for a in argv):
        return
    direct = options.view_as(DirectOptions)
    direct.direct_num_workers = local_workers()
    if direct.direct_num_workers > 1:
        direct.direct_running_mode = "multi_processing"


def local_runner(options) -> Optional[Any]:
    """For ``multi_processing`` on the FnApiRunner: the runner, with the pipeline's options
    handed to its worker processes; None for every other set-up (the options name it).

    Beam's FnApiRunner gives its worker processes no pipeline options, so in them
    FileSystems had none (``--s3_endpoint_url`` and the like were lost) and their logging
    stayed at INFO (56 lines of channel set-up for the demo). Their log level here is
    WARNING unless ``--default_sdk_harness_log_level`` says otherwise.
    """
    if (options.view_as(StandardOptions).runner != DEFAULT_LOCAL_RUNNER
            or options.view_as(DirectOptions).direct_running_mode != "multi_processing"):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.job.utils import dict_to_struct
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo

    # As Beam's PortableRunner does: a protobuf Struct has no integers (2 would reach the
    # worker as 2.0, which its option parser refuses, and the run then waits for ever).
    given = {f"beam:option:{k}:v1": str(v) if isinstance(v, int) and not isinstance(v, bool) else v
             for k, v in options.get_all_options(drop_default=True).items() if v is not None}
    given.setdefault("beam:option:default_sdk_harness_log_level:v1", "WARNING")
    info = beam_provision_api_pb2.ProvisionInfo(retrieval_token="unused-retrieval-token",
                                                pipeline_options=dict_to_struct(given))
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    # "exec": the shell Beam starts it with is replaced, so no shell is left to die of a Ctrl-C.
    workers = SubprocessSDKEnvironment.from_command_string(f"exec {shlex.quote(sys.executable)} -m pipeline.worker")
    return _LocalRunner(default_environment=workers, provision_info=ExtendedProvisionInfo(info))


class _LocalRunner(FnApiRunner):
    """The FnApiRunner in ``multi_processing`` mode, its worker processes started as
    ``python -m pipeline.worker`` (which leaves Ctrl-C to the launcher). Beam replaces the
    default environment with its own command in that mode, so the mode is set to
    ``in_memory`` for the call (the worker count and this environment stay; the warning
    Beam logs about that pairing is dropped) and restored after it."""

    def run_pipeline(self, pipeline, options):
        direct = options.view_as(DirectOptions)
        mode, direct.direct_running_mode = direct.direct_running_mode, "in_memory"
        fn_runner._LOGGER.addFilter(_not_the_mode_warning)
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            direct.direct_running_mode = mode
            fn_runner._LOGGER.removeFilter(_not_the_mode_warning)


def _not_the_mode_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("If direct_num_workers is not equal to 1")


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a run; the message says what was committed."""


def run(argv: Optional[list[str]] = None) -> RunOutcome:
    """Runs one ingestion; returns the run id and its manifest (also written to OUT/runs/).

    Raises ``UsageError`` (nothing written) when the options, the feed list, the model, OUT
    or its state cannot work; ``OutputLocked`` when another run or stream writes to OUT;
    ``RunInterrupted`` on Ctrl-C / SIGTERM."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    news = options.view_as(NewsOptions)
    FileSystems.set_options(options)  # what beam.Pipeline does: s3:// needs its options before that
    check_options(options, argv, "run")  # before anything is written (pipeline/validate.py)
    every_core(options, argv)
    run_id = news.run_id or new_run_id()
    news.run_id = run_id
    with OutputLock(news.output, run_id):
        return _run_locked(options, news, run_id)


def _run_locked(options, news: NewsOptions, run_id: str) -> RunOutcome:
    started, clock = utc_now_iso(), time.monotonic()
    # Earlier runs first: a committed one that died mid-move is completed, an abandoned
    # staging folder (its process gone before its commit point) removed.
    recovered = commit.recover(news.output, write_manifest)
    commit.claim(news.output, run_id)
    state, metrics, committed, pruned, compacted = "FAILED", {}, [], [], []
    counts: Optional[dict] = None  # the run's own count of its items and outcomes (commit.RecordCounts)
    in_commit = False  # between the commit point and the last move: the next start completes it
    interrupted: Optional[str] = None
    try:
        pipeline = beam.Pipeline(runner=local_runner(options), options=options)
        build(pipeline, news, run_id)
        with ProgressDisplay(f"run {run_id}", news.progress_interval, news.quiet):
            result = pipeline.run()  # the FnApiRunner returns when the run is over
            state = str(result.wait_until_finish())
        metrics = collect_metrics(result)
        if state == "DONE":
            counts = commit.read_counts(news.output, run_id)
            crash_point("before_commit")
            moves = commit.plan(news.output, run_id)
            committed = [final for staged, final in moves if commit.is_state(staged)]
            record = _manifest(options, run_id, metrics, state, started, clock, committed, recovered, counts)
            commit.write_record(news.output, run_id, moves, record)  # the commit point
            in_commit = True
            commit.move(moves)
            in_commit = False
            crash_point("before_manifest")
            pruned = prune_dedup_index(news.output, news.dedup_window_days) + \
                prune_story_index(news.output, news.dedup_window_days)
            compacted = compact_state(news.output, run_id, news.state_max_files)
    except KeyboardInterrupt:
        if in_commit:
            interrupted = (f"interrupted during the commit of run {run_id}: it is committed, and the next run "
                           "on this output completes the move")
        elif committed:
            interrupted = f"interrupted after run {run_id} was committed (its files are in place)"
        else:
            state = "INTERRUPTED"
            interrupted = "interrupted; nothing committed (the state is as it was)"
    finally:
        if in_commit and interrupted is None:  # committed but not all moved: the next start rolls forward
            raise RuntimeError(f"run {run_id} committed but its files were not all moved; "
                               "the next run on this output completes the move")
        if not in_commit:
            manifest = _manifest(options, run_id, metrics, state, started, clock, committed, recovered, counts)
            manifest["state_files_pruned"] = pruned
            manifest["state_files_compacted"] = compacted
            path = write_manifest(news.output, manifest)
            cleanup_temp(news.output, run_id)
            if counts is not None and manifest["conservation"] != manifest["conservation_from_metrics"]:
                print(f"newsbeam run: {differing_counts(manifest)}", file=sys.stderr, flush=True)
    if interrupted:
        raise RunInterrupted(interrupted)
    return RunOutcome(run_id, news.output, manifest, path)


RUN_COUNTS = "run's counts"  # conservation_source of a batch run that finished


def _manifest(options, run_id: str, metrics: dict, state: str, started: str, clock: float,
              committed: list[str], recovered: dict, counts: Optional[dict] = None) -> dict:
    """The run's manifest; its balance is ``counts``' (the run's ``_COUNTS.json``) when it
    finished with them, else the runner metrics' (a run that did not finish, or that left no
    counts, says which in ``conservation_source``)."""
    manifest = build_manifest(
        run_id, {k: v for k, v in options.get_all_options(drop_default=True).items()},
        metrics, state, started, utc_now_iso(), time.monotonic() - clock,
    )
    missing = "the run left no readable counts" if state == "DONE" else f"the run ended {state}"
    take_balance(manifest, None if counts is None else window_balance(counts), RUN_COUNTS, missing)
    if counts is not None:
        manifest["counted"] = counts  # also files per table, feed failures, warnings
    manifest["state_files"] = committed
    manifest["recovered"] = recovered
    return manifest


def _cmd_run(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        import argparse

        parser = argparse.ArgumentParser(
            prog="newsbeam run", epilog="Any Beam pipeline option is accepted as well (--runner, ...).")
        NewsOptions._add_argparse_args(parser)
        parser.print_help()
        return 0
    return report(run(argv), "run")


# Exit statuses (README, "When something is wrong").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def nothing_ingested(manifest: dict) -> Optional[str]:
    """Why a finished run ingested nothing because nothing could be (every feed or every
    item failed), or None. A run with nothing new (every item seen before) is fine."""
    feeds, counts = manifest.get("feeds") or {}, manifest.get("conservation") or {}
    if feeds.get("listed") and feeds.get("failed", 0) >= feeds["listed"]:
        return f"every feed failed ({feeds['failed']} of {feeds['listed']}; see failures/ or `newsbeam report`)"
    if counts.get("items_in") and counts.get("failed", 0) >= counts["items_in"]:
        return f"every item failed ({counts['failed']} of {counts['items_in']}; see failures/)"
    return None


def report(outcome: RunOutcome, kind: str, note: str = "") -> int:
    """Prints a run's (or stream's) state and balance; returns the exit status."""
    manifest = outcome.manifest
    balance = manifest["conservation"]
    print(f"{kind} {outcome.run_id}: {manifest['state']}{note}; manifest {outcome.manifest_path}")
    feeds = manifest.get("feeds")
    if feeds and kind == "run":
        print("feeds {listed} = ok {ok} + failed {failed}".format(**feeds))
    print("items in {items_in} = articles {articles} + duplicates {duplicates} + dropped "
          "{dropped} + failed {failed}: {verdict}".format(
              **balance, verdict="balanced" if balance["balanced"] else "NOT BALANCED"))
    if manifest["state"] != "DONE" or not balance["balanced"]:
        return EXIT_FAILED
    why = nothing_ingested(manifest) if kind == "run" else None
    if why:
        print(f"newsbeam {kind}: nothing ingested: {why}", file=sys.stderr)
        return EXIT_NOTHING
    return EXIT_OK


# glibc's malloc keeps what a process freed (many arenas for many threads, and a moving
# threshold that sends large buffers to the heap instead of mmap), so a run's resident
# memory followed the largest amount it had ever held at once plus fragmentation. With
# these settings freed memory goes back to the system: at 4,000 articles the default
# run's peak went from 1,836 to 1,415 MB (runner 469 -> 278 MB, each worker 717 -> 610
# MB; benchmarks/memory.py has the series). The worker processes read them from the
# environment at their start; the launching process sets them for itself with mallopt.
MALLOC_SETTINGS = {"MALLOC_TRIM_THRESHOLD_": 65536, "MALLOC_MMAP_THRESHOLD_": 65536}
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD


def release_freed_memory() -> dict[str, str]:
    """Applies MALLOC_SETTINGS to this process (mallopt) and to the processes it starts
    (environment); a value already in the environment is the user's and is kept. Does
    nothing where the C library is not glibc. Returns the settings in force."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return {}
    in_force = {}
    for name, default in MALLOC_SETTINGS.items():
        value = os.environ.setdefault(name, str(default))
        if value.isdigit():
            mallopt(_MALLOPT[name], int(value))
        in_force[name] = value
    return in_force


def main(argv: Optional[list[str]] = None) -> int:
    """The command line; every error a person can cause ends in one line on stderr and an
    exit status (``--debug`` adds the traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    command = argv[0] if argv and not argv[0].startswith("--") else "run"
    try:
        with _sigterm_interrupts():
            return _main(argv)
    except UsageError as exc:
        return _fail(command, str(exc), EXIT_USAGE, debug)
    except OutputLocked as exc:
        return _fail(command, f"refused: {exc}", EXIT_BUSY, debug)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        return _fail(command, str(exc) or "interrupted", EXIT_INTERRUPTED, debug)
    except Exception as exc:  # noqa: BLE001 (a failed run: one line, the manifest has the rest)
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        return _fail(command, f"failed: {type(exc).__name__}: {reason} (--debug shows the traceback)",
                     EXIT_FAILED, debug)


def _fail(command: str, message: str, status: int, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    print(f"newsbeam {command}: {message}", file=sys.stderr, flush=True)
    return status


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (what cron, systemd and Airflow send) stops a run like Ctrl-C. A stream
    installs its own handlers (drain first)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (a test calling main in a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str]) -> int:
    release_freed_memory()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = [a for a in argv if a != "--debug"]
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command.startswith("--") and command not in ("--help",):
        # Options first, no command: `run` (how launchers such as Airflow's Beam operator call it).
        command, rest = "run", argv
    if command == "run":
        return _cmd_run(rest)
    if command == "stream":
        from pipeline.stream import main as stream_main

        return stream_main(rest)
    if command == "demo":
        from pipeline.demo import main as demo_main

        return demo_main(rest)
    if command == "summary":
        from pipeline.summary import main as summary_main

        return summary_main(rest)
    if command == "report":
        from pipeline.report import main as report_main

        return report_main(rest)
    if command == "doctor":
        from pipeline.doctor import main as doctor_main

        return doctor_main(rest)
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
