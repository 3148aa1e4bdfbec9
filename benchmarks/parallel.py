"""Parallel speed-up: the CPU-bound part of the pipeline on one worker against two.

The part after fetching (ExtractArticles -> Deduplicate -> TagEntities, the real stages
and the real spaCy model) runs on the DirectRunner in ``multi_processing`` mode with
``--direct_num_workers=1`` and then ``2``, over the 181 pages of the extraction benchmark
given as already-fetched pages (``--copies`` times, each copy under its own URL and with
the vowels of its text swapped, so that it stays a distinct article). Each measurement is a fresh
process; variants alternate; the figure is the ratio of the median wall times, one
worker over two. On this 2-core machine the target is >= 1.7x.

    python -m benchmarks.parallel --data ../shared/data [--copies 3] [--repeats 3]

Writes benchmarks/results/parallel.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "parallel.json"
_TEXT = re.compile(rb">[^<]+<")
_RESPELL = [bytes.maketrans(b"aeo", b"eoa"), bytes.maketrans(b"aeo", b"oae"), bytes.maketrans(b"iu", b"ui")]


def page_of(job: tuple[int, str]):
    """One benchmark page as a FetchedPage; copy k > 0 gets its own URL and respelled text."""
    from schemas.elements import FeedItem, FetchedPage
    from transforms._urls import canonical_url

    k, path = job
    name = Path(path).name[:-len(".html.gz")]
    url = f"http://127.0.0.1:9/copy{k}/{name}"
    body = gzip.decompress(Path(path).read_bytes())
    if k:  # copies must not be deduplicated away: every word of the text is respelled
        body = _TEXT.sub(lambda m: m.group(0).translate(_RESPELL[k % len(_RESPELL)]), body)
        body = body.replace(b"canonical", b"x-canonical").replace(b"og:url", b"og:x-url")  # own URL
    item = FeedItem("http://127.0.0.1:9/feed.xml", url, canonical_url(url), None, name, None, None, [], [])
    return FetchedPage(item, url, body, "text/html; charset=utf-8", 200, "2020-01-01T00:00:00+00:00")


def jobs_of(data: Path, copies: int) -> list[tuple[int, str]]:
    files = sorted((data / "extraction-benchmark" / "html").glob("*.html.gz"))
    if not files:
        raise SystemExit(f"no pages under {data / 'extraction-benchmark' / 'html'}")
    return [(k, str(f.resolve())) for k in range(copies) for f in files]


def child(data: Path, copies: int, workers: int) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.deduplicate import Deduplicate
    from transforms.extract_articles import ExtractArticles
    from transforms.tag_entities import SpacyModelHandler, TagEntities

    jobs = jobs_of(data, copies)
    start = time.perf_counter()
    options = PipelineOptions(flags=[], runner="DirectRunner", direct_running_mode="multi_processing",
                              direct_num_workers=workers)
    p = beam.Pipeline(options=options)
    # The pages are read in the workers, as fetched pages would be: only paths cross from the
    # launching process (a Create of 50 MB of pages would time the runner's data plane instead).
    pages = p | beam.Create(jobs) | "ReadPages" >> beam.Map(page_of)
    articles = pages | ExtractArticles()
    deduped = articles.articles | Deduplicate()
    tagged = deduped["articles"] | TagEntities(SpacyModelHandler())
    for name, pcoll in (("articles", tagged["articles"]), ("duplicates", deduped["duplicates"])):
        pcoll | f"Count{name}" >> beam.combiners.Count.Globally() | f"Keep{name}" >> beam.Map(
            lambda n, name=name: print(f"COUNT {name} {n}", flush=True))
    result = p.run()
    result.wait_until_finish()
    return {"seconds": time.perf_counter() - start, "pages": len(jobs)}


def measure(data: Path, copies: int, workers: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.parallel", "--child", str(workers),
                           "--data", str(data), "--copies", str(copies)],
                          capture_output=True, text=True, cwd=HERE.parent, env={**os.environ})
    if proc.returncode:
        raise SystemExit(f"child with {workers} worker(s) failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.splitlines()
    counts = {line.split()[1]: int(line.split()[2]) for line in lines if line.startswith("COUNT ")}
    report = json.loads(next(line for line in lines if line.startswith("{")))
    return {**report, "counts": counts}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.data, args.copies, args.child)), flush=True)
        return {}
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for i in range(args.repeats):
        for workers in (1, 2):
            r = measure(args.data, args.copies, workers)
            runs[workers].append(r)
            print(f"  run {i + 1}/{args.repeats}: {workers} worker(s) {r['seconds']:.2f}s {r['counts']}")
    med = {w: statistics.median(r["seconds"] for r in rs) for w, rs in runs.items()}
    counts = {w: rs[0]["counts"] for w, rs in runs.items()}
    result = {
        "pages": runs[1][0]["pages"], "copies": args.copies, "repeats": args.repeats, "cpus": os.cpu_count(),
        "seconds": {f"{w}_workers": [round(r["seconds"], 2) for r in rs] for w, rs in runs.items()},
        "median_seconds": {f"{w}_workers": round(v, 2) for w, v in med.items()},
        "speedup_2_over_1": round(med[1] / med[2], 3),
        "target": 1.7,
        "same_output": counts[1] == counts[2], "counts": counts[1],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"{result['pages']} pages: 1 worker {med[1]:.1f}s, 2 workers {med[2]:.1f}s, "
          f"speed-up {result['speedup_2_over_1']}x (target >= 1.7); same output: {result['same_output']}")
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
