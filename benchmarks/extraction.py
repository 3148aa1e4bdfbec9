"""Extraction quality on the public article-extraction benchmark (181 pages, human ground
truth), newsbeam's extractor against plain trafilatura defaults, same metric, same run.

    python -m benchmarks.extraction --data ../shared/data

Prints F1, precision, recall, exact-match accuracy and pages per second for each, and
writes benchmarks/results/extraction.json. The metric (benchmarks/extraction_metric.py)
is checked first against the published trafilatura 2.0 output in reference_outputs/.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from benchmarks._results import save
from benchmarks.extraction_metric import score

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "extraction.json"
PUBLISHED_TRAFILATURA_2_0 = 0.958


def load(data: Path) -> tuple[dict, dict, dict]:
    root = data / "extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    bodies = {k: v["articleBody"] for k, v in truth.items()}
    urls = {k: v["url"] for k, v in truth.items()}
    pages = {k: gzip.decompress((root / "html" / f"{k}.html.gz").read_bytes()) for k in truth}
    return bodies, urls, pages


def reference(data: Path, name: str) -> dict:
    raw = json.loads((data / "extraction-benchmark" / "reference_outputs" / f"{name}.json").read_text())
    if set(raw) == {"version", "output"}:
        raw = raw["output"]
    return {k: v.get("articleBody") or "" for k, v in raw.items()}


def timed(fn, keys) -> tuple[dict, float]:
    started = time.perf_counter()
    out = {k: fn(k) or "" for k in keys}
    return out, len(keys) / (time.perf_counter() - started)


def run(data: Path) -> dict:
    import trafilatura

    from transforms.extract_articles import main_text

    bodies, urls, pages = load(data)
    check = score(bodies, reference(data, "trafilatura"))
    if abs(check.f1 - PUBLISHED_TRAFILATURA_2_0) > 0.0015:
        raise SystemExit(f"metric check failed: trafilatura 2.0 reference scores {check.f1:.4f}, "
                         f"published {PUBLISHED_TRAFILATURA_2_0}")
    keys = list(bodies)
    main_text(pages[keys[0]], urls[keys[0]])  # warm imports before timing
    variants = {
        "trafilatura defaults": lambda k: trafilatura.extract(pages[k], url=urls[k]),
        "trafilatura, no comments": lambda k: trafilatura.extract(pages[k], url=urls[k], include_comments=False),
        "newsbeam": lambda k: main_text(pages[k], urls[k])[1],
    }
    result = {"metric_check": {"trafilatura_2.0_reference_f1": round(check.f1, 4),
                               "published": PUBLISHED_TRAFILATURA_2_0}, "pages": len(keys), "variants": {}}
    for name, fn in variants.items():
        predictions, speed = timed(fn, keys)
        s = score(bodies, predictions)
        result["variants"][name] = {"f1": round(s.f1, 4), "precision": round(s.precision, 4),
                                    "recall": round(s.recall, 4), "accuracy": round(s.accuracy, 3),
                                    "pages_per_second": round(speed, 1)}
        print(f"{name:22s} F1 {s.f1:.4f}  precision {s.precision:.4f}  recall {s.recall:.4f}  "
              f"accuracy {s.accuracy:.3f}  {speed:5.1f} pages/s", flush=True)
    ours, base = result["variants"]["newsbeam"], result["variants"]["trafilatura defaults"]
    result["speed_relative_to_trafilatura"] = round(ours["pages_per_second"] / base["pages_per_second"], 3)
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"metric check: trafilatura 2.0 reference output scores {check.f1:.4f} (published 0.958)")
    print(f"newsbeam speed relative to trafilatura defaults: {result['speed_relative_to_trafilatura']}x")
    save(RESULTS, result)
    print(f"written {RESULTS}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"),
                        help="Directory holding extraction-benchmark/ (default ../shared/data).")
    return run(Path(parser.parse_args(argv).data))


if __name__ == "__main__":
    main()
