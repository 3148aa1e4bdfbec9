"""Streaming benchmark: `newsbeam stream` on Prism against a loopback feed, over the 181 pages
of the extraction benchmark.

    python -m benchmarks.streaming --data ../shared/data [--repeats 3] [--items 40] [--every 0.5]

1. Delay: items enter a live feed one every ``--every`` seconds while a stream runs with
   ``--poll_interval 5 --window 10``; for each item, the time from its appearance in the
   feed to its row being readable in ``OUT/articles`` (a reader polls the Parquet every
   0.25 s). Target: p95 <= poll interval + window + 30 s.
2. Throughput, "sustained": a stream that is already running (its first 5 items done: model
   loaded, every stage has run) gets the other 176 pages at once; seconds from the poll that
   sees them until every one has a row (articles, duplicates or failures) readable, against
   `newsbeam run` on the whole feed timed from its feed request until it exits. Items/s,
   medians of ``--repeats`` runs. Target: stream >= 0.8x batch.
3. Throughput, "cold": each run a fresh process timed from its start (imports, model load,
   Prism start included): the stream, the batch, and the stream with ``--no_near_dedup`` (what
   the keyed near-duplicate index costs), alternating.

Results go to benchmarks/results/streaming.json.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks._results import save
from benchmarks.e2e import build_site
from pipeline.loopback import GrowingFeedSite
from pipeline.stream import find_prism

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "streaming.json"
POLL, WINDOW = 5, 10
TABLES = ("articles", "duplicates", "failures")


def visible_urls(out: Path, tables=TABLES) -> set[str]:
    files = [str(p) for t in tables if (out / t).exists() for p in (out / t).rglob("*.parquet")]
    if not files:
        return set()
    rows = duckdb.connect().execute("SELECT url FROM read_parquet(?, union_by_name=true)", [files]).fetchall()
    return {u for (u,) in rows}


def _stream(feeds: Path, out: Path, *extra: str) -> subprocess.Popen:
    # Output to a file, not a pipe nobody reads while the stream runs (a full pipe blocks it).
    log = open(f"{out}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "pipeline", "stream", f"--feeds={feeds}", f"--output={out}",
         "--allow_private_hosts", "--per_host_delay=0", f"--poll_interval={POLL}", f"--window={WINDOW}", *extra],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _log_tail(proc: subprocess.Popen) -> str:
    return Path(proc.log.name).read_text()[-3000:]


def _drain(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    proc.log.close()
    if proc.returncode != 0:
        raise SystemExit(f"stream failed ({proc.returncode}):\n{_log_tail(proc)}")


def _wait_for(out: Path, urls: set[str], timeout: float, proc: subprocess.Popen, seen_at: dict | None = None
              ) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"stream ended early ({proc.returncode}):\n{_log_tail(proc)}")
        visible = visible_urls(out)
        if seen_at is not None:
            now = time.time()
            for url in visible & urls:
                seen_at.setdefault(url, now)
        if urls <= visible:
            return time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"timed out: {len(urls - visible_urls(out))} of {len(urls)} items never appeared")


def delays(site_root: Path, pages: list[str], n_items: int, every: float, work: Path) -> dict:
    paths = pages[:n_items]
    with GrowingFeedSite(site_root, paths) as site:
        feeds = work / "live.txt"
        feeds.write_text(site.feed_url + "\n")
        out = work / "delay-out"
        proc = _stream(feeds, out)
        while not any(site.feed_path in r for r in site.requests):  # the stream is up and polling
            if proc.poll() is not None:
                raise SystemExit(_log_tail(proc))
            time.sleep(0.2)
        site.start_publishing(every)
        seen_at: dict[str, float] = {}
        urls = {site.url(p) for p in paths}
        _wait_for(out, urls, 300, proc, seen_at=seen_at)
        _drain(proc)
        articles = visible_urls(out, ("articles",))
        lag = sorted(seen_at[u] - site.appeared[u] for u in urls if u in articles)
    quantiles = statistics.quantiles(lag, n=20)
    return {"items": len(paths), "articles": len(lag), "every_s": every, "poll_interval_s": POLL,
            "window_s": WINDOW, "p50_s": round(statistics.median(lag), 2), "p95_s": round(quantiles[18], 2),
            "max_s": round(lag[-1], 2), "target_p95_s": POLL + WINDOW + 30,
            "meets_target": quantiles[18] <= POLL + WINDOW + 30}


def _feed_request_after(site: GrowingFeedSite, since: float) -> float:
    """When (time.monotonic) the first request for the feed after ``since`` arrived."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        times = [t for r, t in zip(list(site.requests), list(site.request_times))
                 if site.feed_path in r and t >= since]
        if times:
            return time.monotonic() - (time.time() - min(times))
        time.sleep(0.05)
    raise SystemExit("the feed was not requested within 300 s")


def _one(kind: str, site: GrowingFeedSite, feeds: Path, urls: set[str], out: Path) -> tuple[float, float]:
    """A cold run: (seconds from process start, seconds from its feed request) to every row."""
    start, wall = time.monotonic(), time.time()
    if kind.startswith("stream"):
        proc = _stream(feeds, out, *(["--no_near_dedup"] if kind == "stream_no_near_dedup" else []))
        end = _wait_for(out, urls, 600, proc)
        _drain(proc)
    else:
        subprocess.run([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                        "--runner=FnApiRunner", "--allow_private_hosts", "--per_host_delay=0"],
                       cwd=ROOT, check=True, capture_output=True)
        end = time.monotonic()
        missing = urls - visible_urls(out)
        if missing:
            raise SystemExit(f"batch left {len(missing)} items without a row")
    return end - start, end - _feed_request_after(site, wall)


def _warm_stream(site_root: Path, pages: list[str], warm: int, work: Path, out: Path) -> tuple[int, float]:
    """A running stream (first ``warm`` items done: model loaded, every stage has run) gets
    the rest of the pages at once: (items, seconds from the poll that sees them to every row)."""
    with GrowingFeedSite(site_root, pages) as site:
        for _ in range(warm):
            site.publish()
        feeds = work / "warm.txt"
        feeds.write_text(site.feed_url + "\n")
        proc = _stream(feeds, out)
        _wait_for(out, {site.url(p) for p in pages[:warm]}, 300, proc)
        published = time.time()
        while site.publish():
            pass
        end = _wait_for(out, {site.url(p) for p in pages}, 600, proc)
        start = _feed_request_after(site, published)
        _drain(proc)
    return len(pages) - warm, end - start


def throughput(site_root: Path, pages: list[str], repeats: int, work: Path, warm: int = 5) -> dict:
    kinds = ("stream", "batch", "stream_no_near_dedup")
    cold: dict[str, list[float]] = {k: [] for k in kinds}
    from_poll: dict[str, list[float]] = {k: [] for k in kinds}
    sustained: list[float] = []
    with GrowingFeedSite(site_root, pages) as site:
        while site.publish():
            pass
        feeds = work / "all.txt"
        feeds.write_text(site.feed_url + "\n")
        urls = {site.url(p) for p in pages}
        for i in range(repeats):
            for kind in kinds if i % 2 == 0 else kinds[::-1]:
                total, processing = _one(kind, site, feeds, urls, work / f"{kind}-{i}")
                cold[kind].append(round(total, 2))
                from_poll[kind].append(round(processing, 2))
                print(f"  {kind} run {i + 1}: {cold[kind][-1]} s ({from_poll[kind][-1]} s from its feed request)",
                      flush=True)
            n_warm, seconds = _warm_stream(site_root, pages, warm, work, work / f"warm-{i}")
            sustained.append(round(seconds, 2))
            print(f"  running stream, {n_warm} new items: {sustained[-1]} s", flush=True)
    med = {k: statistics.median(v) for k, v in cold.items()}
    rate = {k: round(len(pages) / med[k], 2) for k in med}
    batch_processing = statistics.median(from_poll["batch"])
    batch_rate = len(pages) / batch_processing
    stream_rate = n_warm / statistics.median(sustained)
    return {
        "items": len(pages),
        "sustained": {
            "what": "a running stream (its first %d items done) gets the other %d at once: seconds from the "
                    "poll that sees them until every one has a readable row; the batch: seconds from its "
                    "feed request until it exits with every row written (model load included: a batch run "
                    "always pays it)" % (warm, n_warm),
            "stream_seconds": sustained, "batch_seconds": from_poll["batch"],
            "stream_items_per_s": round(stream_rate, 2), "batch_items_per_s": round(batch_rate, 2),
            "stream_vs_batch": round(stream_rate / batch_rate, 3), "target": 0.8,
            "meets_target": stream_rate / batch_rate >= 0.8},
        "cold": {
            "what": "each run a fresh process timed from its start (imports, model load, Prism start "
                    "included) until every item has a readable row; stream_no_near_dedup shows what the "
                    "keyed near-duplicate index costs (the batch run has its near-duplicate step)",
            "seconds": cold, "median_s": med, "items_per_s": rate,
            "stream_vs_batch": round(rate["stream"] / rate["batch"], 3),
            "stream_no_near_dedup_vs_batch": round(rate["stream_no_near_dedup"] / rate["batch"], 3),
            "seconds_from_feed_request": from_poll},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=40, help="Items for the delay measurement.")
    parser.add_argument("--every", type=float, default=0.5, help="Seconds between two new items.")
    args = parser.parse_args(argv)
    if find_prism() is None:
        raise SystemExit("needs the prism binary beside the venv's python (make install builds it)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        site_root = work / "site"
        build_site(Path(args.data), site_root, 1)
        pages = sorted(f"pages/{p.name}" for p in (site_root / "pages").glob("*.html"))
        print(f"delay: {args.items} items, one every {args.every} s ...", flush=True)
        delay = delays(site_root, pages, args.items, args.every, work)
        print(f"  p50 {delay['p50_s']} s, p95 {delay['p95_s']} s (target <= {delay['target_p95_s']} s)")
        print(f"throughput: {len(pages)} items, stream vs batch, {args.repeats} runs each ...", flush=True)
        rate = throughput(site_root, pages, args.repeats, work)
        sus, cold = rate["sustained"], rate["cold"]
        print(f"  sustained: stream {sus['stream_items_per_s']} items/s, batch {sus['batch_items_per_s']} items/s: "
              f"{sus['stream_vs_batch']}x (target >= 0.8x); cold start: {cold['stream_vs_batch']}x")
    save(RESULTS, {"benchmark": "streaming", "runner": "PrismRunner (LOOPBACK) vs FnApiRunner",
                   "delay": delay, "throughput": rate})
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
