"""A run with OUT on object storage: Beam's S3 filesystem as shipped against newsbeam's
shared botocore clients (``transforms/_s3.py``).

The sample site's feeds (``samples/feeds.txt``) on loopback, written by ``newsbeam run``
(FnApiRunner, one process) to ``s3://`` on moto in server mode on loopback: a first run
(everything new) and a second one (every feed answers 304, state read back), each in a fresh
process and under a fresh prefix. ``beam_as_shipped`` undoes ``transforms._s3`` in its process
before the run (one boto3 session and client per file operation, as Beam 2.77 does);
``shared_clients`` is newsbeam as installed. The variants alternate, ``--repeats`` times;
medians and the ratio go to benchmarks/results/s3.json. Needs the test extra (moto[server]).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "s3.json"
KEY, SECRET, REGION, BUCKET = "bench", "bench-secret", "us-east-1", "news"

# Runs in a child process: argv = variant, feeds, output, endpoint, run id.
_CHILD = """
import json, sys, time
variant, feeds, output, endpoint, run_id = sys.argv[1:6]
import transforms._files  # installs the shared clients, as every user of OUT does
from transforms._s3 import clients_built
if variant == "beam_as_shipped":
    import boto3
    from apache_beam.io.aws.clients.s3 import boto3_client
    boto3_client.boto3 = boto3  # Beam's module as shipped: a session and client per operation
from pipeline.cli import run
started = time.perf_counter()
outcome = run([f"--feeds={feeds}", f"--output={output}", "--allow_private_hosts", "--runner=FnApiRunner",
               "--per_host_delay=0", "--quiet", f"--run_id={run_id}", f"--s3_endpoint_url={endpoint}",
               "--s3_access_key_id=%s", "--s3_secret_access_key=%s", "--s3_region_name=%s"])
print(json.dumps({"seconds": time.perf_counter() - started, "state": outcome.manifest["state"],
                  "balanced": outcome.manifest["conservation"]["balanced"],
                  "articles": outcome.manifest["conservation"]["articles"], "shared_clients_built": clients_built()}))
""" % (KEY, SECRET, REGION)


def _one(variant: str, feeds: Path, output: str, endpoint: str, run_id: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, variant, str(feeds), output, endpoint, run_id],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{variant} {run_id} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["state"] != "DONE" or not result["balanced"]:
        raise SystemExit(f"{variant} {run_id}: {result}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request

    from pipeline.demo import materialise_feed_list
    from pipeline.loopback import LoopbackSite

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                     region_name=REGION).create_bucket(Bucket=BUCKET)
        runs: dict[str, dict[str, list]] = {v: {"first": [], "second": []} for v in ("beam_as_shipped",
                                                                                   "shared_clients")}
        with LoopbackSite(ROOT / "samples" / "site") as site, tempfile.TemporaryDirectory() as work:
            feeds = materialise_feed_list(site, ROOT / "samples" / "feeds.txt", Path(work))
            for i in range(args.repeats):
                for variant in runs:
                    output = f"s3://{BUCKET}/{variant}-{i}"
                    for which in ("first", "second"):
                        result = _one(variant, feeds, output, endpoint, f"{which}-{i}")
                        runs[variant][which].append(result)
                        print(f"  {variant}, {which} run {i + 1}: {result['seconds']:.2f} s, "
                              f"{result['articles']} articles, shared clients built {result['shared_clients_built']}",
                              flush=True)
    finally:
        server.stop()
    medians = {v: {w: round(statistics.median(r["seconds"] for r in rs), 2) for w, rs in by.items()}
               for v, by in runs.items()}
    ratios = {w: round(medians["beam_as_shipped"][w] / medians["shared_clients"][w], 2) for w in ("first", "second")}
    result = {
        "benchmark": "s3",
        "corpus": "samples/feeds.txt on loopback (the sample site), OUT on moto in server mode on loopback",
        "runner": "FnApiRunner (in the run's process)",
        "repeats": args.repeats,
        "median_seconds": medians,
        "as_shipped_over_shared": ratios,
        "seconds": {v: {w: [round(r["seconds"], 2) for r in rs] for w, rs in by.items()} for v, by in runs.items()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"first run: {medians['beam_as_shipped']['first']} s as shipped, {medians['shared_clients']['first']} s "
          f"shared ({ratios['first']}x); second run: {medians['beam_as_shipped']['second']} s, "
          f"{medians['shared_clients']['second']} s ({ratios['second']}x)")
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
