"""Fetch-stage benchmark: politeness-bound throughput.

20 loopback hosts (127.0.0.1 ... 127.0.0.20) x 25 pages, every response (robots.txt
included) taking 100 ms. FetchPages runs in a real pipeline on the FnApiRunner with the
default limits (2 requests in flight and 1 s between request starts per host). The ideal
bound is what those limits allow when every host is served in parallel:

    per host: (requests - 1) * max(delay, latency / concurrency) + latency,  requests = pages + 1

    python -m benchmarks.fetch [--hosts 20] [--pages 25] [--latency 0.1] [--repeats 3]

Reports the median wall time of the whole pipeline (start-up included) against the bound,
as a ratio. Results: benchmarks/results/fetch.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "fetch.json"
PAGE = b"<html><head><title>t</title></head><body><article><p>" + b"Some words of news. " * 40 + \
    b"</p></article></body></html>"


def serve_hosts(n: int, latency: float) -> list[ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            time.sleep(latency)
            body, status = (b"", 404) if self.path == "/robots.txt" else (PAGE, 200)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = []
    for k in range(1, n + 1):
        server = ThreadingHTTPServer((f"127.0.0.{k}", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def run_fetch(urls: list[str]) -> tuple[float, dict]:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from schemas.elements import FeedItem
    from transforms._http import FetchConfig
    from transforms._urls import canonical_url
    from transforms.fetch_pages import FetchPages

    items = [FeedItem("bench", u, canonical_url(u), None, None, None, None, [], []) for u in urls]
    cfg = FetchConfig(allow_private_hosts=True)  # default politeness: 2 in flight, 1 s apart
    started = time.monotonic()
    p = beam.Pipeline(options=PipelineOptions(flags=[], runner="FnApiRunner"))
    out = p | beam.Create(items) | FetchPages(cfg)
    out["pages"] | "CountPages" >> beam.combiners.Count.Globally()
    result = p.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("fetch"))["counters"]}
    return elapsed, counters


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pages", type=int, default=25)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from transforms._http import FetchConfig

    cfg = FetchConfig()
    servers = serve_hosts(args.hosts, args.latency)
    try:
        runs = []
        for i in range(args.repeats):
            # Fresh ports' paths per run so nothing is cached between runs.
            urls = [f"http://127.0.0.{k + 1}:{s.server_address[1]}/r{i}/p{j}.html"
                    for k, s in enumerate(servers) for j in range(args.pages)]
            elapsed, counters = run_fetch(urls)
            runs.append({"seconds": round(elapsed, 3), "counters": counters})
            print(f"  run {i + 1}/{args.repeats}: {elapsed:.2f}s, {counters.get('emitted')} pages", flush=True)
    finally:
        for server in servers:
            server.shutdown()
    requests = args.pages + 1
    spacing = max(cfg.per_host_delay, args.latency / cfg.per_host_concurrency)
    bound = (requests - 1) * spacing + args.latency
    median = statistics.median(r["seconds"] for r in runs)
    result = {
        "benchmark": "fetch",
        "hosts": args.hosts, "pages_per_host": args.pages, "latency_s": args.latency,
        "per_host_concurrency": cfg.per_host_concurrency, "per_host_delay_s": cfg.per_host_delay,
        "ideal_bound_s": round(bound, 3),
        "median_seconds": median,
        "ratio_to_bound": round(median / bound, 3),
        "target_ratio_max": 1.3,
        "sequential_estimate_s": round(args.hosts * requests * max(cfg.per_host_delay, args.latency), 1),
        "runs": runs,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
    }
    save(RESULTS, result)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"written {RESULTS}")
    return result


if __name__ == "__main__":
    main()
