"""Flink benchmark: the CPU-bound part of the pipeline (extract + dedup + entities) on the
loopback Flink cluster (``make flink-up``) with one TaskManager slot against two.

    python -m benchmarks.flink --data ../shared/data [--repeats 3]

The 181 pages of the extraction benchmark served on loopback in 8 feeds (fetching them is
cheap; extraction, dedup and NER are most of the job); ``newsbeam run``
submitted from the Flink virtualenv with ``--parallelism=1`` and ``--parallelism=2``,
alternating. The figure is Flink's own job duration (submission to end, from its REST
API): the cluster is up before and after, so its start is not in it. Medians of
``--repeats``. Target: 2 slots >= 1.6x 1 slot. Results: benchmarks/results/flink.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._results import save
from benchmarks.e2e import build_site
from deploy.flink import cluster
from pipeline.loopback import LoopbackSite

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "flink.json"



def one_run(feeds: Path, out: Path, parallelism: int) -> dict:
    before = {j["jid"] for j in cluster.rest("/jobs/overview")["jobs"]}
    proc = subprocess.run(
        [str(cluster.FLINK_VENV / "bin" / "python"), "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
         "--allow_private_hosts", "--per_host_delay=0", *cluster.submit_options(parallelism)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    (job,) = [j for j in cluster.rest("/jobs/overview")["jobs"] if j["jid"] not in before]
    return {"seconds": round(job["duration"] / 1000, 2), "state": job["state"],
            "summary": proc.stdout.strip().splitlines()[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flink", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if cluster.not_ready():
        raise SystemExit(f"needs the loopback Flink cluster: {cluster.not_ready()}")
    seconds: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        feeds_paths = build_site(Path(args.data), work / "site", 8)
        n_pages = len(list((work / "site" / "pages").glob("*.html")))
        with LoopbackSite(work / "site") as site:
            feeds = work / "feeds.txt"
            feeds.write_text("".join(f"{site.url(f)}\n" for f in feeds_paths))
            for i in range(args.repeats):
                for slots in ((1, 2) if i % 2 == 0 else (2, 1)):
                    result = one_run(feeds, work / f"out-{slots}-{i}", slots)
                    seconds[slots].append(result["seconds"])
                    print(f"  {slots} slot(s), run {i + 1}: {result['seconds']} s ({result['summary']})", flush=True)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    speedup = med[1] / med[2]
    print(f"2 slots vs 1: {speedup:.2f}x (target >= 1.6x)")
    save(RESULTS, {"benchmark": "flink", "cluster": "Flink 1.19.3 on loopback, 2 TaskManagers x 1 slot, "
                   "Beam 2.62.0 job server, EXTERNAL SDK worker pool; machine: 2 cores",
                   "pages": n_pages, "seconds": {str(k): v for k, v in seconds.items()},
                   "median_s": {str(k): v for k, v in med.items()}, "speedup_2_vs_1": round(speedup, 3),
                   "target": 1.6, "meets_target": speedup >= 1.6})
    return 0


if __name__ == "__main__":
    sys.exit(main())
