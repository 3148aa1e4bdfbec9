"""``newsbeam summary OUT``: what a run produced, read back from the Parquet with DuckDB."""

from __future__ import annotations

import argparse
import json
from typing import Optional

import duckdb
from apache_beam.io.filesystems import FileSystems
from rich.console import Console
from rich.table import Table

from pipeline.manifest import manifest_path
from transforms._files import join


def _glob(root: str, table: str) -> Optional[str]:
    pattern = join(root, table, "**", "*.parquet")
    return pattern if FileSystems.match([pattern])[0].metadata_list else None


def query(root: str, table: str, sql: str, run_id: Optional[str] = None) -> list[tuple]:
    """Runs ``sql`` with ``t`` bound to the table (this run's rows only if run_id is given)."""
    pattern = _glob(root, table)
    if pattern is None:
        return []
    con = duckdb.connect()
    source = f"read_parquet('{pattern}', hive_partitioning=true)"
    where = "WHERE run_id = '{}'".format(run_id.replace("'", "''")) if run_id else ""
    con.execute(f"CREATE VIEW t AS SELECT * FROM {source} {where}")
    return con.execute(sql).fetchall()


def _table(title: str, columns: list[str], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def print_summary(root: str, run_id: str, console: Optional[Console] = None) -> None:
    console = console or Console(width=120)
    with FileSystems.open(manifest_path(root, run_id)) as handle:
        manifest = json.loads(handle.read())
    if manifest.get("kind") == "window":  # a stream's window record: its stream's rows so far
        console.rule(f"newsbeam stream {manifest['stream_id']}, window {manifest['window_start']} "
                     f"(written {manifest['written_at']})")
        console.print(_table("Window counts", ["count", "value"], sorted(manifest["counts"].items())))
        run_id = manifest["stream_id"]
    else:
        kind = "stream" if manifest.get("kind") == "stream" else "run"
        console.rule(f"newsbeam {kind} {run_id} — {manifest['state']} in {manifest['seconds']}s")
        stage_rows = [
            (stage, ", ".join(f"{k}={v}" for k, v in counts.items() if not isinstance(v, dict)))
            for stage, counts in manifest["stages"].items() if counts
        ]
        console.print(_table("Per-stage counts (Beam metrics)", ["stage", "counters"], stage_rows))
    c = manifest["conservation"]
    verdict = "[green]balanced[/green]" if c["balanced"] else "[red]NOT BALANCED[/red]"
    console.print(f"Items in {c['items_in']} = articles {c['articles']} + duplicates "
                  f"{c['duplicates']} + dropped {c['dropped']} + failed {c['failed']}: {verdict}\n")
    console.print(_table("Articles", ["published", "source", "title", "words", "lang", "entities"], query(
        root, "articles",
        "SELECT strftime(published, '%Y-%m-%d %H:%M'), source, title, word_count, language, "
        "len(entities) FROM t ORDER BY published, title LIMIT 10", run_id)))
    console.print(_table("Duplicates", ["method", "url", "canonical_article_id"], query(
        root, "duplicates",
        "SELECT method, url, canonical_article_id FROM t ORDER BY method, url LIMIT 10", run_id)))
    console.print(_table("Top stories this run added to (articles of different outlets about one event; "
                         "totals across runs)",
                         ["articles", "outlets", "first", "last", "title"], query(
        root, "stories",
        "SELECT articles, array_to_string(outlets, ', '), strftime(first_published, '%Y-%m-%d %H:%M'), "
        "strftime(last_published, '%Y-%m-%d %H:%M'), title FROM t "
        # a stream writes a row per window that added to a story: its latest (largest) one
        "QUALIFY row_number() OVER (PARTITION BY story_id ORDER BY articles DESC, last_published DESC) = 1 "
        "ORDER BY articles DESC, len(outlets) DESC, first_published, story_id LIMIT 10", run_id)))
    console.print(_table("Failures, drops and warnings", ["stage", "severity", "error", "url", "detail"],
                         query(root, "failures",
                               "SELECT stage, severity, error, url, left(detail, 60) FROM t "
                               "ORDER BY stage, url LIMIT 15", run_id)))
    console.print(_table("Top entities (PERSON, GPE, ORG)", ["label", "entity", "mentions", "articles"], query(
        root, "articles",
        "SELECT e.label, any_value(e.text), count(*) AS n, count(DISTINCT article_id) "
        "FROM (SELECT article_id, unnest(entities) AS e FROM t) "
        "WHERE e.label IN ('PERSON', 'GPE', 'ORG') GROUP BY e.label, e.key "
        "ORDER BY n DESC, e.label LIMIT 12", run_id)))
    console.print(f"Dataset: {root}  (query it: duckdb -c \"SELECT title FROM read_parquet("
                  f"'{join(root, 'articles', '**', '*.parquet')}', hive_partitioning=true)\")")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam summary")
    parser.add_argument("output", help="Dataset root written by newsbeam run or newsbeam stream.")
    parser.add_argument("--run_id", default=None, help="Run to summarise (default: the latest).")
    args = parser.parse_args(argv)
    run_id = args.run_id
    if run_id is None:
        manifests = FileSystems.match([join(args.output, "runs", "*.json")])[0].metadata_list
        if not manifests:
            print(f"no runs under {args.output}")
            return 1
        # The newest record: a run's or a finished stream's manifest, or a running stream's window.
        newest = max(manifests, key=lambda m: (m.last_updated_in_seconds, m.path))
        run_id = newest.path.rsplit("/", 1)[-1][: -len(".json")]
    print_summary(args.output, run_id)
    return 0
