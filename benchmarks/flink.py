"""Flink benchmark: the CPU-bound part of the pipeline (extract + dedup + entities) on the
loopback Flink cluster (``make flink-up``) with one TaskManager slot against two.

    python -m benchmarks.flink --data ../shared/data [--articles 1200] [--repeats 3] [--with_fetch]

The corpus is ``benchmarks.corpus``: ``--articles`` unique 60 KB news pages on 8 loopback
hosts. One warm-up job, not counted (the first job on a fresh cluster pays for its JVMs'
start), fetches them from the feeds and archives every page (``--warc_output``); the timed
jobs are ``newsbeam run --warc_input`` on that archive, so they are the CPU-bound part
(read the archive, extract, dedup, entities, write) without the fetching, which is I/O
and happens on one worker (pages are fetched grouped by host). ``--with_fetch`` also times
the whole pipeline from the feeds. Each is submitted from the Flink virtualenv with
``--parallelism=1`` and ``--parallelism=2``, alternating. The figure is Flink's own job
duration (submission to end, from its REST API): the cluster is up before and after, so
its start is not in it. Medians of ``--repeats``. Target: 2 slots >= 1.6x 1 slot.

Every run also records where the machine's CPU went during the job (user + system seconds
per process, grouped by role: SDK workers, TaskManagers, JobManager, job server, the
submitting process), read from /proc: on a 2-core machine the two SDK workers share the
cores with the cluster's JVMs, and these figures show how much the JVMs take.
Results: benchmarks/results/flink.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks._results import save
from benchmarks.corpus import CorpusSites, build_corpus
from deploy.flink import cluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "flink.json"
HOSTS = 8
ROLES = {"TaskManagerRunner": "taskmanagers", "StandaloneSessionClusterEntrypoint": "jobmanager",
         "FlinkJobServerDriver": "job server", "SdkHarness": "sdk workers", "worker_pool.py": "worker pool",
         "pipeline run": "submitter"}


class CpuByRole:
    """CPU seconds (user + system) each role's processes used while the block ran.

    Samples /proc every half second and keeps each process's last reading, so workers that
    start and end inside the block are counted up to their last sample.
    """

    def __init__(self):
        self._stop = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[float, str]] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _snapshot(self) -> dict[int, tuple[float, str]]:
        out = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            role = next((r for needle, r in ROLES.items() if needle in cmd), None)
            if role:
                fields = stat[stat.rfind(")") + 2:].split()
                out[int(pid)] = ((int(fields[11]) + int(fields[12])) / self._tick, role)
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._last.update(self._snapshot())

    def __enter__(self) -> "CpuByRole":
        self._first = {pid: cpu for pid, (cpu, _) in self._snapshot().items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._snapshot())

    def seconds(self) -> dict[str, float]:
        by_role: dict[str, float] = {}
        for pid, (cpu, role) in self._last.items():
            by_role[role] = by_role.get(role, 0.0) + cpu - self._first.get(pid, 0.0)
        return {role: round(s, 1) for role, s in sorted(by_role.items())}


def one_run(source: list[str], out: Path, parallelism: int) -> dict:
    """One ``newsbeam run`` on the cluster; ``source`` is its input option(s)."""
    before = {j["jid"] for j in cluster.rest("/jobs/overview")["jobs"]}
    with CpuByRole() as cpu:
        proc = subprocess.run(
            [str(cluster.FLINK_VENV / "bin" / "python"), "-m", "pipeline", "run", *source,
             f"--output={out}", "--allow_private_hosts", "--per_host_delay=0", *cluster.submit_options(parallelism)],
            cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    (job,) = [j for j in cluster.rest("/jobs/overview")["jobs"] if j["jid"] not in before]
    seconds = job["duration"] / 1000
    used = cpu.seconds()
    return {"seconds": round(seconds, 2), "state": job["state"], "cpu_s": used,
            "cores_busy": round(sum(used.values()) / seconds, 2), "summary": proc.stdout.strip().splitlines()[-1]}


def timed(label: str, source: list[str], work: Path, repeats: int) -> dict:
    """Alternating 1- and 2-slot runs of one input; medians, speed-up and CPU by role."""
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for i in range(repeats):
        for slots in ((1, 2) if i % 2 == 0 else (2, 1)):
            result = one_run(source, work / f"out-{label}-{slots}-{i}", slots)
            runs[slots].append(result)
            print(f"  {label}: {slots} slot(s), run {i + 1}: {result['seconds']} s, {result['cores_busy']} cores "
                  f"busy {result['cpu_s']} ({result['summary']})", flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    speedup = med[1] / med[2]
    print(f"{label}: 2 slots vs 1: {speedup:.2f}x (target >= 1.6x)", flush=True)
    return {"seconds": {str(k): [r["seconds"] for r in v] for k, v in runs.items()},
            "median_s": {str(k): v for k, v in med.items()}, "speedup_2_vs_1": round(speedup, 3),
            "target": 1.6, "meets_target": speedup >= 1.6,
            "cpu_s_by_role": {str(k): [r["cpu_s"] for r in v] for k, v in runs.items()},
            "cores_busy": {str(k): [r["cores_busy"] for r in v] for k, v in runs.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flink", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--articles", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with_fetch", action="store_true",
                        help="also time the whole pipeline from the feeds (fetching included)")
    args = parser.parse_args(argv)
    if cluster.not_ready():
        raise SystemExit(f"needs the loopback Flink cluster: {cluster.not_ready()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = build_corpus(Path(args.data), work / "site", args.articles, HOSTS)
        with CorpusSites(corpus) as sites:
            feeds = [f"--feeds={sites.write_feed_list(work / 'feeds.txt')}"]
            # The warm-up fetches the corpus once and archives it: the timed runs read that WARC.
            warm = one_run([*feeds, f"--warc_output={work / 'warc'}"], work / "out-warm-up", 2)
            print(f"  warm-up (2 slots, fetch + archive, not counted): {warm['seconds']} s", flush=True)
            results["cpu_bound"] = timed("from WARC", [f"--warc_input={work / 'warc'}/*.warc.gz"], work,
                                         args.repeats)
            if args.with_fetch:
                results["with_fetch"] = timed("from feeds", feeds, work, args.repeats)
    save(RESULTS, {"benchmark": "flink", "cluster": "Flink 1.19.3 on loopback, 2 TaskManagers x 1 slot, "
                   f"Beam {cluster.BEAM_JAVA_VERSION} job server, EXTERNAL SDK worker pool; machine: "
                   f"{os.cpu_count()} cores", "corpus": f"benchmarks.corpus: {args.articles} unique articles, "
                   f"{HOSTS} loopback hosts", "articles": args.articles, "warm_up_s": warm["seconds"],
                   "cpu_bound": "newsbeam run --warc_input: the pages the warm-up fetched, read from its WARC "
                   "(extract + dedup + entities + write)",
                   "with_fetch": "newsbeam run --feeds: the whole pipeline, pages fetched from loopback",
                   **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
