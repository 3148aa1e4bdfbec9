"""``newsbeam stream``: the same graph, unbounded: poll the feeds every ``--poll_interval``
seconds and write each ``--window`` of articles as it closes.

    newsbeam stream --feeds feeds.opml --output OUT [--poll_interval 300] [--window 60]
                    [--max_polls N] [every run option] [Beam options]

Runner: Prism (``--runner=PrismRunner``, the default here), Beam's local streaming
runner. When a ``prism`` binary sits next to this Python (``make install`` builds one with
Go) or on PATH, newsbeam starts it itself, in its own process group so that Ctrl-C
reaches newsbeam and not the runner; with internet access Beam downloads Prism by itself.
Any other streaming runner works with its own options (``--runner=FlinkRunner ...``).

Stopping: Ctrl-C or SIGTERM *drains*: a stop marker is written under
``OUT/_temporary/<stream_id>/``, the source sees it within a second and ends, every open
window fires and is written, and the command exits 0. A second signal cancels.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline.cli import RunOutcome, new_run_id, report
from pipeline.graph import StreamEnds, build
from pipeline.lock import OutputLock
from pipeline.manifest import build_manifest, collect_metrics, differing_counts, take_balance, write_manifest
from pipeline.options import NewsOptions, parse_options
from pipeline.progress import ProgressDisplay
from pipeline.validate import UsageError, check_options
from schemas.timeutil import utc_now_iso
from transforms._files import cleanup_temp, join, temp_dir
from transforms._stories import warm_up
from transforms.state import STATE_DIR, compact_state, prune_dedup_index, prune_story_index
from transforms.window_records import read_window_records, stream_balance

DEFAULT_STREAM_RUNNER = "PrismRunner"
_TERMINAL = {PipelineState.DONE, PipelineState.FAILED, PipelineState.CANCELLED, PipelineState.UPDATED,
             PipelineState.DRAINED}


def find_prism(explicit: Optional[str] = None) -> Optional[str]:
    """The prism binary: ``--prism_location``, else next to this Python, else on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "prism"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("prism")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prism_job_server(binary: str, log_path: Optional[str] = None, timeout: float = 30.0) -> Iterator[str]:
    """Starts Prism on a loopback port in a process group of its own; yields its endpoint."""
    port = _free_port()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    # In a session of its own, Prism outlives a newsbeam killed with SIGKILL: the idle timeout
    # ends it a minute after its job ended (it never stops while a job runs).
    process = subprocess.Popen([binary, "--job_port", str(port), "--serve_http=false", "--log_level", "warn",
                                "--idle_shutdown_timeout", "60s"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"prism did not start (exit {process.poll()}); see {log_path}") from exc
                time.sleep(0.1)
        yield f"localhost:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log is not subprocess.DEVNULL:
            log.close()


class _Drain:
    """First SIGINT/SIGTERM: write the stop marker (drain). Second: cancel."""

    def __init__(self, marker: str):
        self.marker = marker
        self.requested = 0
        self.result = None

    def __call__(self, signum, _frame) -> None:
        from apache_beam.io.filesystems import FileSystems

        self.requested += 1
        if self.requested == 1:
            print(f"newsbeam stream: {signal.Signals(signum).name}: draining (polling stops, open windows "
                  "are written); signal again to cancel", file=sys.stderr, flush=True)
            with FileSystems.create(self.marker) as handle:
                handle.write(b"drain\n")
        elif self.result is not None:
            print("newsbeam stream: cancelling", file=sys.stderr, flush=True)
            self.result.cancel()

    @contextmanager
    def installed(self) -> Iterator["_Drain"]:
        previous = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _wait(result, drain: _Drain) -> str:
    """Polls the job state (a sleep is interruptible by signals; a blocking wait may not be)."""
    drain.result = result
    while True:
        state = result.state
        if state in _TERMINAL:
            break
        time.sleep(0.5)
    return str(result.wait_until_finish())


def stream(argv: Optional[list[str]] = None) -> RunOutcome:
    """Runs a stream until ``--max_polls`` or a drain; returns its id and final manifest."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    news = options.view_as(NewsOptions)
    if news.warc_input:
        raise UsageError("--warc_input is for batch runs (`newsbeam run`)")
    FileSystems.set_options(options)
    check_options(options, argv, "stream")  # before anything is written (pipeline/validate.py)
    standard = options.view_as(StandardOptions)
    standard.runner = standard.runner or DEFAULT_STREAM_RUNNER
    standard.streaming = True
    stream_id = news.run_id or f"s{new_run_id()}"
    news.run_id = stream_id
    with OutputLock(news.output, stream_id):
        return _stream_locked(options, news, stream_id)


def _stream_locked(options: PipelineOptions, news: NewsOptions, stream_id: str) -> RunOutcome:
    marker = join(temp_dir(news.output, stream_id), "STOP")
    ends = StreamEnds(news.poll_interval, news.window, time.time(), news.max_polls, marker,
                      seen_retention_days=news.seen_retention_days, early_delay=news.early_delay)
    started, clock = utc_now_iso(), time.monotonic()
    state, metrics, pruned, compacted = "FAILED", {}, [], []
    drain = _Drain(marker)
    try:
        with _runner_endpoint(options) as _, drain.installed():
            pipeline = beam.Pipeline(options=options)
            build(pipeline, news, stream_id, stream=ends)
            # Prism's loopback workers run in this process: the stories' background table
            # built here keeps the first window's bundle on the stories key short (see
            # transforms.keyed_stories: a long one was seen overlapping the next).
            warm_up()
            with ProgressDisplay(f"stream {stream_id}", news.progress_interval, news.quiet):
                result = pipeline.run()
                state = _wait(result, drain)
            metrics = collect_metrics(result)
        if state == "DONE":
            pruned = prune_dedup_index(news.output, news.dedup_window_days) + \
                prune_story_index(news.output, news.dedup_window_days)
            compacted = compact_state(news.output, stream_id, news.state_max_files)
    finally:
        manifest = build_manifest(stream_id, options.get_all_options(drop_default=True), metrics, state, started,
                                  utc_now_iso(), time.monotonic() - clock)
        manifest["kind"] = "stream"
        manifest["drained"] = bool(drain.requested)
        _balance_from_records(manifest, news.output, stream_id, started)
        manifest["state_files_pruned"] = pruned
        manifest["state_files_compacted"] = compacted
        path = write_manifest(news.output, manifest)
        cleanup_temp(join(news.output, STATE_DIR), stream_id)
        cleanup_temp(news.output, stream_id)
    return RunOutcome(stream_id, news.output, manifest, path)


def _balance_from_records(manifest: dict, root: str, stream_id: str, started: str) -> None:
    """Takes the stream's balance from its window records, which count the rows themselves
    (``pipeline.manifest.take_balance`` says why not the runner's metrics)."""
    try:
        from_records = stream_balance(read_window_records(root, stream_id, since=started))
    except (OSError, ValueError) as exc:  # a damaged record (`newsbeam doctor` names it)
        take_balance(manifest, None, "window records", f"window records unreadable: {exc}")
        return
    if take_balance(manifest, from_records, "window records", "no window record"):
        print(f"newsbeam stream: {differing_counts(manifest)}", file=sys.stderr, flush=True)


@contextmanager
def _runner_endpoint(options: PipelineOptions) -> Iterator[Optional[str]]:
    """For Prism without a job endpoint: start our own Prism (see the module docstring)."""
    standard, portable = options.view_as(StandardOptions), options.view_as(PortableOptions)
    if standard.runner != DEFAULT_STREAM_RUNNER or portable.job_endpoint:
        yield None
        return
    from apache_beam.options.pipeline_options import PrismRunnerOptions

    binary = find_prism(options.view_as(PrismRunnerOptions).prism_location)
    if binary is None:
        yield None  # Beam downloads Prism itself (needs internet)
        return
    news = options.view_as(NewsOptions)
    log_path = os.path.join(news.output, "_prism.log") if "://" not in news.output else None
    if log_path:
        os.makedirs(news.output, exist_ok=True)
    with prism_job_server(binary, log_path) as endpoint:
        portable.job_endpoint = endpoint
        portable.environment_type = portable.environment_type or "LOOPBACK"
        yield endpoint


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        import argparse

        parser = argparse.ArgumentParser(prog="newsbeam stream", description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter,
                                         epilog="Any Beam pipeline option is accepted as well.")
        NewsOptions._add_argparse_args(parser)
        parser.print_help()
        return 0
    outcome = stream(argv)
    return report(outcome, "stream", " (drained)" if outcome.manifest["drained"] else "")
