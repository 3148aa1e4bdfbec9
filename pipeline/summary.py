"""``newsbeam summary OUT``: what a run produced, read back from the Parquet with DuckDB."""

from __future__ import annotations

import json
import re
from typing import Optional

from apache_beam.io.filesystems import FileSystems
from rich.console import Console
from rich.table import Table

from pipeline.manifest import manifest_path
from pipeline.report import latest_run_id, load_run
from pipeline.validate import ArgumentParser
from transforms._files import join


def _table(title: str, columns: list[str], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def print_summary(root: str, run_id: str, console: Optional[Console] = None) -> None:
    console = console or Console(width=120)
    run = load_run(root, run_id)  # this run's rows, as DuckDB views named after the tables
    query = run.rows
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
    console.print(_table("Articles", ["published", "source", "title", "words", "lang", "entity keys"], query(
        "SELECT strftime(published, '%Y-%m-%d %H:%M'), source, title, word_count, language, "
        "(SELECT count(*) FROM entities e WHERE e.article_id = a.article_id) FROM articles a "
        "ORDER BY published, title LIMIT 10")))
    console.print(_table("Duplicates", ["method", "url", "canonical_article_id"], query(
        "SELECT method, url, canonical_article_id FROM duplicates ORDER BY method, url LIMIT 10")))
    console.print(_table("Top stories this run added to (articles of different outlets about one event; "
                         "totals across runs)",
                         ["articles", "outlets", "not read", "first", "last", "title"], query(
        "SELECT articles, array_to_string(outlets, ', '), "
        # this run's reports of the story behind a wall or too short to keep (joined by headline)
        "(SELECT count(*) FROM failures f WHERE f.story_id = stories.story_id), "
        "strftime(first_published, '%Y-%m-%d %H:%M'), strftime(last_published, '%Y-%m-%d %H:%M'), title "
        "FROM stories "
        # a stream writes a row per window that added to a story: its latest (largest) one
        "QUALIFY row_number() OVER (PARTITION BY story_id ORDER BY articles DESC, last_published DESC) = 1 "
        "ORDER BY articles DESC, len(outlets) DESC, first_published, story_id LIMIT 10")))
    console.print(_table("Failures, drops and warnings", ["stage", "severity", "error", "url", "detail"],
                         query("SELECT stage, severity, error, url, left(detail, 60) FROM failures "
                               "ORDER BY stage, url LIMIT 15")))
    console.print(_table("Top entities (PERSON, GPE, ORG)", ["label", "entity", "mentions", "articles"], query(
        "SELECT label, list_sort(list_distinct(flatten(list(surface_forms))))[1], sum(mentions) AS n, "
        "count(DISTINCT article_id) FROM entities WHERE label IN ('PERSON', 'GPE', 'ORG') GROUP BY label, key "
        "ORDER BY n DESC, label, key LIMIT 12")))
    pattern = join(root, "articles", "**", "*.parquet").replace("'", "''")
    command = f"SELECT title FROM read_parquet('{pattern}', hive_partitioning=true)"
    shell = '"' + re.sub(r'([\\"$`])', r"\\\1", command) + '"'  # the path stays data in SQL and in the shell
    console.print(f"Dataset: {root}  (query it: duckdb -c {shell})", markup=False)


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="newsbeam summary")
    parser.add_argument("output", help="Dataset root written by newsbeam run or newsbeam stream.")
    parser.add_argument("--run_id", default=None, help="Run to summarise (default: the latest).")
    args = parser.parse_args(argv)
    run_id = args.run_id
    if run_id is None:
        # The newest record: a run's or a finished stream's manifest, or a running stream's window.
        run_id = latest_run_id(args.output)
        if run_id is None:
            print(f"no runs under {args.output}")
            return 1
    print_summary(args.output, run_id)
    return 0
