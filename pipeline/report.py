"""``newsbeam report OUT [--run_id ID] [--html PATH]``: one self-contained HTML page of a run.

What it reads: the run's manifest (``OUT/runs/<run_id>.json``; for a stream also its window
records ``runs/<stream_id>-*.json``) and the run's rows of the Parquet tables (the files a
run writes are named ``<run_id>-...parquet``), through Beam's FileSystems, so an ``s3://``
dataset is read like a local one, into DuckDB, where every figure is a query. Any past run
can be reported; nothing in OUT is changed except the report file when it is written there.

What it writes: one HTML file (default ``OUT/reports/<run_id>.html``) with no script and no
link: every chart is matplotlib drawn to SVG and put inline, text kept as text. So the page
opens offline, as a mail attachment or a CI artifact, and looks the same in every browser.
(Vega-Lite through altair would need its JavaScript inlined, about 1 MB, and a renderer
package to do it; plotly inlines 3.5 MB of JavaScript. These charts are bars and lines,
which SVG draws in a few kilobytes.)

Sections, each a ``<section id=...>`` whose figures are also in ``data-`` attributes (what
the test reads back): ``funnel`` (items in -> articles / duplicates / dropped / failed, the
conservation line, feed failures), ``sources`` (articles per source), ``hours`` (articles
per hour of publication, per day when they span more than four days), ``duplicates``
(groups by size, the most re-published reports with their copies), ``stories`` (the
stories the run added to), ``entities`` (top entity keys per label, with the surface forms
they were written as), ``failures`` (by stage and reason, an example URL each),
``timings`` (time at work per stage, from each stage's ``busy_micros`` counter) and, for a
stream, ``windows`` (per-window counts and the delay from a window's end to its record).
"""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any, Iterable, Optional, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from pipeline.manifest import manifest_path
from pipeline.validate import ArgumentParser
from schemas.tables import TABLES
from transforms._files import ensure_dir, escape_pattern, join, match_under, read_json
from transforms._timing import BUSY
from transforms.window_records import read_window_records

__all__ = ["RunData", "load_run", "render", "write_report", "main"]

COLUMNS = {
    "articles": ("article_id", "url", "source", "title", "published", "word_count", "language", "story_id",
                 "run_id"),
    "duplicates": ("url", "article_id", "canonical_article_id", "method", "similarity", "source", "title",
                   "published", "run_id"),
    "failures": ("stage", "url", "feed_url", "error", "detail", "http_status", "severity", "unit", "story_id",
                 "run_id"),
    "entities": ("article_id", "key", "label", "surface_forms", "mentions", "run_id"),
    "stories": ("story_id", "first_published", "last_published", "articles", "outlets", "title", "run_id"),
}
TOP = 12


def _run_files(root: str, table: str, run_id: str) -> list[str]:
    return match_under(join(root, TABLES[table].directory), "**", f"{escape_pattern(run_id)}-*.parquet")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns (a file older than a column gets nulls)."""
    arrays = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _read_table(root: str, table: str, run_id: str) -> pa.Table:
    spec = TABLES[table]
    schema = pa.schema([spec.schema.field(name) for name in COLUMNS[table]])
    parts = []
    for path in _run_files(root, table, run_id):
        # Read through the open file, not its bytes: only the footer and the shown columns'
        # chunks are fetched (an articles file is mostly its text column, never shown here).
        with FileSystems.open(path) as handle:
            data = pq.ParquetFile(handle)
            present = [n for n in COLUMNS[table] if n in data.schema_arrow.names]
            parts.append(_conform(data.read(columns=present), schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


class RunData:
    """A run's manifest, its window records (streams) and its rows, queryable with DuckDB
    (views ``articles``, ``duplicates``, ``failures``, ``entities``, ``stories``)."""

    def __init__(self, root: str, run_id: str, manifest: dict, windows: list[dict], tables: dict[str, pa.Table]):
        self.root, self.run_id, self.manifest, self.windows = root, run_id, manifest, windows
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        for name, table in tables.items():
            self.con.register(name, table.filter(pc.equal(table["run_id"], run_id)) if len(table) else table)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.rows(sql, params)[0][0]


def latest_run_id(root: str) -> Optional[str]:
    """The newest record under ``OUT/runs/`` (a run's, a stream's or a window's)."""
    found = FileSystems.match([join(escape_pattern(join(root, "runs")), "*.json")])[0].metadata_list
    if not found:
        return None
    newest = max(found, key=lambda m: (m.last_updated_in_seconds, m.path))
    return newest.path.rsplit("/", 1)[-1][: -len(".json")]


def load_run(root: str, run_id: str) -> RunData:
    """Reads what the report needs of ``run_id`` (a window record's id means its stream)."""
    manifest = read_json(manifest_path(root, run_id))
    if manifest.get("kind") == "window":
        run_id = manifest["stream_id"]
        path = manifest_path(root, run_id)
        manifest = read_json(path) if FileSystems.exists(path) else {**manifest, "run_id": run_id}
    windows = read_window_records(root, run_id)
    tables = {name: _read_table(root, name, run_id) for name in COLUMNS}
    return RunData(root, run_id, manifest, windows, tables)


# ---------------------------------------------------------------------------------------
# Charts: matplotlib to inline SVG.

def _svg(draw, width: float = 7.0, height: float = 2.8) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False, "svg.hashsalt": "newsbeam"}):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            draw(ax)
            fig.tight_layout()
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _integer_ticks(axis, integer: bool = True) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=integer))


def _barh(labels: Sequence[str], values: Sequence[float], xlabel: str, color: str = "#3b6ea8") -> str:
    labels = [_short(str(label), 48) for label in labels]

    def draw(ax):
        ax.barh(range(len(values)), values, color=color)
        ax.set_yticks(range(len(values)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        _integer_ticks(ax.xaxis, all(float(v).is_integer() for v in values))
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:g}", va="center", fontsize=8)

    return _svg(draw, height=max(1.4, 0.28 * len(values) + 0.7))


def _bars(labels: Sequence[str], values: Sequence[float], ylabel: str, color: str = "#3b6ea8") -> str:
    def draw(ax):
        ax.bar(range(len(values)), values, color=color)
        step = max(1, len(labels) // 16)
        long = max((len(label) for label in labels), default=0) > 4
        ax.set_xticks(range(0, len(labels), step), [labels[i] for i in range(0, len(labels), step)],
                      rotation=45 if long else 0, ha="right" if long else "center")
        ax.set_ylabel(ylabel)
        _integer_ticks(ax.yaxis)

    return _svg(draw, height=2.3)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------------------
# HTML pieces.

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(key: str, title: str, body: str, **data: Any) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{_e(v)}"' for k, v in data.items())
    return f'<section id="{key}"{attrs}><h2>{_e(title)}</h2>{body}</section>'


def _empty(what: str) -> str:
    return f'<p class="empty">{_e(what)}</p>'


def _funnel(run: RunData) -> str:
    c = run.manifest.get("conservation") or {}
    feed_failures = run.one("SELECT count(*) FROM failures WHERE unit <> 'item' AND severity = 'error'")
    steps = [("items_in", "items in"), ("articles", "articles"), ("duplicates", "duplicates"),
             ("dropped", "dropped"), ("failed", "failed")]
    rows = [(f'<span data-key="{k}">{_e(label)}</span>', f'<b class="n" data-key="{k}">{_e(c.get(k, 0))}</b>')
            for k, label in steps]
    rows.append(('<span data-key="feed_failures">feeds failed</span>',
                 f'<b class="n" data-key="feed_failures">{feed_failures}</b>'))
    balanced = bool(c.get("balanced"))
    line = (f"items in {c.get('items_in', 0)} = articles {c.get('articles', 0)} + duplicates "
            f"{c.get('duplicates', 0)} + dropped {c.get('dropped', 0)} + failed {c.get('failed', 0)}: "
            f"{'balanced' if balanced else 'NOT BALANCED'}")
    chart = _barh([label for _, label in steps], [c.get(k, 0) for k, _ in steps], "items",
                  color="#4c8c4a" if balanced else "#b03a2e")
    body = (f'<p class="conservation {"ok" if balanced else "bad"}">{_e(line)}</p>'
            f'<div class="split">{chart}{_table(["", "count"], rows, "funnel")}</div>')
    return _section("funnel", "Funnel", body, balanced=str(balanced).lower(), feed_failures=feed_failures,
                    **{k: c.get(k, 0) for k, _ in steps})


def _sources(run: RunData) -> str:
    rows = run.rows("SELECT coalesce(source, '(none)') AS s, count(*) AS n FROM articles GROUP BY s "
                    "ORDER BY n DESC, s")
    if not rows:
        return _section("sources", "Articles per source", _empty("No articles in this run."), sources=0)
    top = rows[:20]
    body = _barh([s for s, _ in top], [n for _, n in top], "articles")
    body += _table(["source", "articles"], [(_e(s), f'<span class="n">{n}</span>') for s, n in top], "sources")
    if len(rows) > len(top):
        body += f"<p>{len(rows) - len(top)} more sources, {sum(n for _, n in rows[len(top):])} articles.</p>"
    return _section("sources", "Articles per source", body, sources=len(rows))


def _hours(run: RunData) -> str:
    span = run.rows("SELECT min(published), max(published), count(*) FILTER (WHERE published IS NULL) "
                    "FROM articles")[0]
    if span[0] is None:
        return _section("hours", "Articles per hour of publication", _empty("No publication times."), buckets=0)
    daily = (span[1] - span[0]) > dt.timedelta(days=4)
    unit, fmt = ("day", "%Y-%m-%d") if daily else ("hour", "%Y-%m-%d %H:00")
    rows = run.rows(f"SELECT strftime(date_trunc('{unit}', published), '{fmt}') AS b, count(*) FROM articles "
                    "WHERE published IS NOT NULL GROUP BY b ORDER BY b")
    body = _bars([b for b, _ in rows], [n for _, n in rows], "articles")
    note = f" {span[2]} articles had no publication time." if span[2] else ""
    body += f"<p>Per {unit}, UTC, {len(rows)} {unit}s with articles.{_e(note)}</p>"
    return _section("hours", f"Articles per {unit} of publication", body, buckets=len(rows), unit=unit)


def _duplicates(run: RunData) -> str:
    groups = run.rows(
        "SELECT d.canonical_article_id, count(*) AS copies, any_value(a.title), any_value(a.source), "
        "any_value(d.title), list(struct_pack(source := d.source, method := d.method, url := d.url) "
        "ORDER BY d.url) FROM duplicates d LEFT JOIN articles a ON a.article_id = d.canonical_article_id "
        "GROUP BY d.canonical_article_id ORDER BY copies DESC, d.canonical_article_id")
    if not groups:
        return _section("duplicates", "Duplicate groups", _empty("No duplicates in this run."), groups=0, copies=0)
    sizes = run.rows("SELECT copies + 1 AS size, count(*) FROM (SELECT canonical_article_id, count(*) AS copies "
                     "FROM duplicates GROUP BY 1) GROUP BY size ORDER BY size")
    methods = run.rows("SELECT method, count(*) FROM duplicates GROUP BY method ORDER BY 2 DESC, 1")
    body = _bars([str(s) for s, _ in sizes], [n for _, n in sizes], "groups")
    body += "<p>Group size = the article kept plus its copies. Copies by method: " + ", ".join(
        f"{_e(m)} {n}" for m, n in methods) + ".</p>"
    rows = []
    for canonical, copies, title, source, copy_title, members in groups[:10]:
        listed = "".join(f'<li class="copy" data-url="{_e(m["url"])}">{_e(m["source"])} ({_e(m["method"])}): '
                         f"{_e(m['url'])}</li>" for m in members)
        shown = title or copy_title or canonical
        kept = _e(source) if title else "(an earlier run's article)"
        rows.append((f'<span class="title">{_e(shown)}</span>', kept,
                     f'<b class="n copies" data-canonical="{_e(canonical)}">{copies}</b>', f"<ul>{listed}</ul>"))
    body += _table(["most re-published report", "kept from", "copies", "copies (source, method, url)"], rows,
                   "groups")
    return _section("duplicates", "Duplicate groups", body, groups=len(groups), copies=sum(g[1] for g in groups))


def _stories(run: RunData) -> str:
    rows = run.rows(
        "SELECT story_id, title, articles, len(outlets), array_to_string(outlets, ', '), first_published, "
        "last_published, (SELECT count(*) FROM failures f WHERE f.story_id = stories.story_id) "
        "FROM stories QUALIFY row_number() OVER (PARTITION BY story_id "
        "ORDER BY articles DESC, last_published DESC) = 1 "
        "ORDER BY articles DESC, len(outlets) DESC, first_published, story_id")
    if not rows:
        return _section("stories", "Stories", _empty("No stories in this run."), stories=0)
    shown = []
    for story_id, title, articles, n_outlets, outlets, first, last, unread in rows[:10]:
        span = (last - first) if first and last else None
        hours = f"{span.total_seconds() / 3600:.1f} h" if span is not None else ""
        shown.append((_e(title), f'<b class="n" data-story="{_e(story_id)}">{articles}</b>', n_outlets,
                      _e(outlets), unread, _e(f"{first:%Y-%m-%d %H:%M}" if first else ""), hours))
    multi = sum(1 for r in rows if r[3] > 1)
    body = (f"<p>{len(rows)} stories this run added to; {multi} reported by more than one outlet "
            "(counts are totals across runs).</p>")
    body += ("<p>\"Not read\": this run's reports of the story that were dropped (a wall, a text too short) "
             "and joined it by their headline (their <code>failures</code> rows carry its id).</p>")
    body += _table(["story", "articles", "outlets", "outlet names", "not read", "first published", "span"], shown,
                   "stories")
    return _section("stories", "Stories", body, stories=len(rows), multi_outlet=multi)


# Names, not quantities: DATE, TIME, CARDINAL, ORDINAL, QUANTITY, MONEY and PERCENT keys are
# left out of the report (they are in the entities table).
NAMED = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE")


def _entities(run: RunData) -> str:
    named = "(" + ", ".join(f"'{label}'" for label in NAMED) + ")"
    rows = run.rows(
        "SELECT label, key, count(DISTINCT article_id) AS a, sum(mentions) AS m, "
        "list_sort(list_distinct(flatten(list(surface_forms)))) AS forms FROM entities "
        f"WHERE label IN {named} GROUP BY label, key "
        "QUALIFY row_number() OVER (PARTITION BY label ORDER BY a DESC, m DESC, key) <= 8 "
        "ORDER BY label, a DESC, m DESC, key")
    if not rows:
        return _section("entities", "Top entities by label", _empty("No named entities in this run."), labels=0)
    totals = dict(run.rows(f"SELECT label, count(DISTINCT key) FROM entities WHERE label IN {named} GROUP BY label"))
    order = sorted(totals, key=lambda label: (NAMED.index(label), label))
    blocks = []
    for label in order:
        mine = [r for r in rows if r[0] == label]
        table = _table(["entity key", "articles", "mentions", "written as"], [
            (f'<code class="key">{_e(key)}</code>', f'<span class="n">{a}</span>', m,
             _e(", ".join(forms[:6]) + (" …" if len(forms) > 6 else ""))) for _, key, a, m, forms in mine],
            "entities")
        blocks.append(f'<div class="label" data-label="{_e(label)}"><h3>{_e(label)} ({totals[label]} keys)</h3>'
                      f"{table}</div>")
    body = ('<p>The most named people, organisations and places, by articles naming them. A key joins the '
            'spellings of one name (the "written as" column); numbers, dates and times are left out.</p>'
            f'<div class="grid">{"".join(blocks)}</div>')
    return _section("entities", "Top entities by label", body, labels=len(order))


def _failures(run: RunData) -> str:
    rows = run.rows("SELECT stage, error, severity, unit, count(*) AS n, min(url) FROM failures "
                    "GROUP BY ALL ORDER BY n DESC, stage, error")
    if not rows:
        return _section("failures", "Failures, drops and warnings", _empty("Nothing failed or was dropped."),
                        rows=0, total=0)
    top = rows[:15]
    body = _barh([f"{s}: {e}" for s, e, *_ in top], [r[4] for r in top], "rows", color="#b5651d")
    body += _table(["stage", "reason", "severity", "unit", "rows", "example URL"], [
        (_e(s), f'<span class="reason">{_e(e)}</span>', _e(sev), _e(u), f'<b class="n">{n}</b>',
         f'<span class="url">{_e(url)}</span>') for s, e, sev, u, n, url in rows], "failures")
    return _section("failures", "Failures, drops and warnings", body, rows=len(rows), total=sum(r[4] for r in rows))


def _stage_seconds(manifest: dict) -> list[tuple[str, float]]:
    found = {}
    for group in ("stages", "other_metrics"):
        for stage, counters in (manifest.get(group) or {}).items():
            value = (counters or {}).get(BUSY)
            if isinstance(value, (int, float)) and value > 0:
                found[stage] = value / 1e6
    return list(found.items())


def _timings(run: RunData) -> str:
    seconds = run.manifest.get("seconds")
    stages = _stage_seconds(run.manifest)
    body = f"<p>Wall-clock: <b class=\"n\" data-key=\"seconds\">{_e(seconds)}</b> s, from start to commit.</p>"
    if not stages:
        body += _empty("This run's manifest has no per-stage times (runs before they were recorded).")
        return _section("timings", "Time per stage", body, stages=0)
    body += _barh([s for s, _ in stages], [round(v, 2) for _, v in stages], "seconds at work", color="#6a4c93")
    body += ("<p>Time at work in each stage's code, summed over every worker and thread (so stages that ran "
             "side by side can add up to more than the wall-clock); a stage's time does not include the "
             "stages fused after it.</p>")
    body += _table(["stage", "seconds"], [(_e(s), f'<span class="n">{v:.2f}</span>') for s, v in stages], "timings")
    return _section("timings", "Time per stage", body, stages=len(stages))


def _windows(run: RunData) -> str:
    if not run.windows:
        return ""
    rows, labels, articles, delays = [], [], [], []
    for w in run.windows:
        c = w.get("conservation") or {}
        end = dt.datetime.fromisoformat(w["window_end"])
        delay = (dt.datetime.fromisoformat(w["written_at"]) - end).total_seconds()
        start = dt.datetime.fromisoformat(w["window_start"])
        labels.append(f"{start:%H:%M:%S}")
        articles.append(c.get("articles", 0))
        delays.append(delay)
        rows.append((_e(f"{start:%Y-%m-%d %H:%M:%S}"), w.get("pane", 0), c.get("items_in", 0), c.get("articles", 0),
                     c.get("duplicates", 0), c.get("dropped", 0), c.get("failed", 0),
                     "yes" if c.get("balanced") else "<b>NO</b>", f"{delay:.1f}"))
    body = _bars(labels, articles, "articles per window")
    body += _table(["window start (UTC)", "pane", "items in", "articles", "duplicates", "dropped", "failed",
                    "balanced", "record delay (s)"], rows, "windows")
    body += ("<p>Record delay: from the window's end to its record being written (the watermark passing the "
             "end, then the window's last writes).</p>")
    return _section("windows", "Stream windows", body, windows=len(rows))


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4}
header{background:#1f3a5f;color:#fff;padding:16px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.85}main{padding:8px 28px 40px;max-width:1100px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:16px 0;padding:8px 18px 14px}
h2{font-size:16px;margin:8px 0}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #eee;padding:3px 10px;
text-align:left;vertical-align:top}th{background:#fafafa}.n{font-variant-numeric:tabular-nums}
.conservation{font-weight:600}.ok{color:#2e6b2c}.bad{color:#b03a2e}.empty{color:#777}
.split{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}svg{max-width:100%;height:auto}
ul{margin:0;padding-left:18px}.grid{display:flex;flex-wrap:wrap;gap:4px 24px}code{font-size:12px}
.url{word-break:break-all}
"""


def render(run: RunData) -> str:
    """The report of ``run`` as one HTML document."""
    m = run.manifest
    kind = m.get("kind") or ("stream" if run.windows else "run")
    title = f"newsbeam {kind} {run.run_id}"
    options = m.get("options") or {}
    facts = (f"{_e(m.get('state', '?'))} · started {_e(m.get('started_at', '?'))} · {_e(m.get('seconds', '?'))} s · "
             f"runner {_e(options.get('runner', 'default'))} · output {_e(run.root)}")
    sections = [_funnel(run), _sources(run), _hours(run), _duplicates(run), _stories(run), _entities(run),
                _failures(run), _timings(run), _windows(run)]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head><body>"
            f'<header data-run-id="{_e(run.run_id)}"><h1>{_e(title)}</h1><p>{facts}</p></header>'
            f"<main>{''.join(sections)}</main></body></html>")


def default_path(root: str, run_id: str) -> str:
    return join(root, "reports", f"{run_id}.html")


def write_report(root: str, run_id: Optional[str] = None, path: Optional[str] = None) -> str:
    """Renders the report of ``run_id`` (default: the latest) to ``path``; returns the path."""
    run_id = run_id or latest_run_id(root)
    if run_id is None:
        raise FileNotFoundError(f"no runs under {root}")
    run = load_run(root, run_id)
    path = path or default_path(root, run.run_id)
    data = render(run).encode("utf-8")
    ensure_dir(FileSystems.split(path)[0])
    with FileSystems.create(path) as handle:
        handle.write(data)
    return path


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="newsbeam report", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="Dataset root written by newsbeam run or newsbeam stream.")
    parser.add_argument("--run_id", default=None, help="Run (or stream) to report (default: the latest).")
    parser.add_argument("--html", default=None, help="Where to write the page (default: OUT/reports/<run_id>.html).")
    S3Options._add_argparse_args(parser)  # an s3:// OUT's endpoint and credentials, as `newsbeam run` takes them
    args = parser.parse_args(argv)
    s3 = {k: v for k, v in vars(args).items() if k.startswith("s3_") and v is not None}
    if s3:
        FileSystems.set_options(PipelineOptions(**s3))
    try:
        path = write_report(args.output, args.run_id, args.html)
    except FileNotFoundError as err:
        print(f"newsbeam report: {err}")
        return 1
    print(f"report: {path}")
    return 0
