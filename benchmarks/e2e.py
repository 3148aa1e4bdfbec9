"""End-to-end benchmark: newsbeam on the DirectRunner's local engine (FnApiRunner, one
worker) against ``benchmarks.baseline_loop``, the sequential script a user would write,
over the same loopback site built from the 181 pages of the extraction benchmark.

    python -m benchmarks.e2e --data ../shared/data [--repeats 3] [--feeds 4]

Each measurement is a fresh process (imports and model load included, as a user sees
it); variants alternate, and the figure is the ratio of the medians. Peak memory is the
child's max RSS. Results go to benchmarks/results/e2e.json and are printed.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import save
from pipeline.loopback import LoopbackSite

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "e2e.json"


def build_site(data: Path, root: Path, n_feeds: int) -> list[str]:
    """Writes the benchmark pages plus ``n_feeds`` RSS feeds listing them; returns feed paths."""
    pages = sorted((data / "extraction-benchmark" / "html").glob("*.html.gz"))
    if not pages:
        raise SystemExit(f"no pages under {data / 'extraction-benchmark' / 'html'}")
    (root / "pages").mkdir(parents=True)
    for page in pages:
        (root / "pages" / page.name[: -len(".gz")]).write_bytes(gzip.decompress(page.read_bytes()))
    feeds = []
    for k in range(n_feeds):
        items = "\n".join(
            f"<item><title>{html.escape(p.name[:12])}</title><link>{{{{BASE}}}}/pages/{p.name[:-3]}</link>"
            f"<guid>{p.name[:16]}</guid></item>"
            for p in pages[k::n_feeds])
        (root / f"feed{k}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>bench {k}</title>{items}'
            "</channel></rss>", encoding="utf-8")
        feeds.append(f"feed{k}.xml")
    return feeds


def child_pipeline(feeds_file: str, out: str) -> dict:
    start = time.perf_counter()
    from pipeline.cli import run

    # Our own loopback site: no politeness delay, as in the loop (which has none).
    outcome = run([f"--feeds={feeds_file}", f"--output={out}", "--runner=FnApiRunner",
                   "--allow_private_hosts", "--direct_num_workers=1", "--per_host_delay=0"])
    return {
        "seconds": time.perf_counter() - start,
        "articles": outcome.manifest["conservation"]["articles"],
        "conservation": outcome.manifest["conservation"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(variant: str, feeds_file: Path, work: Path, run_no: int) -> dict:
    out = work / f"{variant}-{run_no}"
    out.mkdir()
    cmd = [sys.executable, "-m", "benchmarks.e2e", "--child", variant, str(feeds_file), str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"),
                        help="Directory holding extraction-benchmark/ (default ../shared/data).")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per variant (median taken).")
    parser.add_argument("--feeds", type=int, default=4, help="Feeds the pages are spread over.")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "FEEDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        variant, feeds_file, out = args.child
        if variant == "pipeline":
            print(json.dumps(child_pipeline(feeds_file, out)))
        else:
            from benchmarks.baseline_loop import main as loop_main

            print(json.dumps(loop_main(feeds_file, out)))
        return {}

    data = Path(args.data)
    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-") as tmp:
        work = Path(tmp)
        feeds = build_site(data, work / "site", args.feeds)
        with LoopbackSite(work / "site") as site:
            feeds_file = work / "feeds.txt"
            feeds_file.write_text("\n".join(site.url(f) for f in feeds) + "\n")
            runs: dict[str, list[dict]] = {"loop": [], "pipeline": []}
            for i in range(args.repeats):
                for variant in ("loop", "pipeline"):
                    runs[variant].append(measure(variant, feeds_file, work, i))
                    r = runs[variant][-1]
                    print(f"  run {i + 1}/{args.repeats} {variant:8s} {r['wall_seconds']:6.2f}s wall, "
                          f"{r['articles']} articles, peak {r['peak_rss_mb']:.0f} MB", flush=True)
    med = {v: statistics.median(r["wall_seconds"] for r in rs) for v, rs in runs.items()}
    pages = len(list((data / "extraction-benchmark" / "html").glob("*.html.gz")))
    loop_phases = {k: statistics.median(r["phases"][k] for r in runs["loop"])
                   for k in runs["loop"][0]["phases"]}
    result = {
        "benchmark": "e2e",
        "pages": pages,
        "repeats": args.repeats,
        "median_wall_seconds": {k: round(v, 3) for k, v in med.items()},
        "pages_per_second": {k: round(pages / v, 2) for k, v in med.items()},
        "ratio_pipeline_over_loop": round(med["pipeline"] / med["loop"], 3),
        "target_ratio_max": 1.25,
        "peak_rss_mb": {v: round(max(r["peak_rss_mb"] for r in rs), 1) for v, rs in runs.items()},
        "articles": {v: rs[0]["articles"] for v, rs in runs.items()},
        "loop_phase_seconds_median": {k: round(v, 3) for k, v in loop_phases.items()},
        "pipeline_conservation": runs["pipeline"][0]["conservation"],
        "runs": runs,
        "machine": {"cpus": __import__("os").cpu_count(), "python": sys.version.split()[0]},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save(RESULTS, result)
    print(json.dumps({k: result[k] for k in ("pages", "median_wall_seconds", "pages_per_second",
                                             "ratio_pipeline_over_loop", "peak_rss_mb", "articles",
                                             "loop_phase_seconds_median")}, indent=2))
    print(f"written {RESULTS}")
    return result


if __name__ == "__main__":
    main()
