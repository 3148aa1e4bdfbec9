"""`newsbeam report`: the sample site's run, its HTML report rendered in headless Chromium,
the DOM read back and checked against the manifest and the Parquet (DuckDB)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pytest
from conftest import RUNNER, SAMPLES

from pipeline.cli import main as newsbeam
from pipeline.cli import run
from pipeline.demo import materialise_feed_list
from pipeline.report import write_report
from transforms._files import escape_pattern

lxml_html = pytest.importorskip("lxml.html")

pytestmark = pytest.mark.e2e

IRANPRESS = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"
SECTIONS = ("funnel", "sources", "hours", "duplicates", "stories", "entities", "failures", "timings")
# The flags Chromium needs here (no network, root): see the README's "Run report".
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


@pytest.fixture(scope="module")
def reported(sample_site, tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", work)
    out = work / "out"
    outcome = run([f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}",
                   "--allow_private_hosts", "--per_host_delay=0.05", "--run_id=shown"])
    return outcome, out, Path(write_report(str(out), "shown"))


def _sql(out: Path, table: str, query: str, params=()):
    con = duckdb.connect()
    files = [str(p) for p in (out / table).rglob("*.parquet")]
    con.read_parquet(files, hive_partitioning=True).create_view("t")
    return con.execute(query, list(params)).fetchall()


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("needs Debian's chromium (make test installs it with apt-get where it can)")
    return path


def _browse(page: Path, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                              capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dom(reported):
    _, _, page = reported
    done = _browse(page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    return lxml_html.fromstring(done.stdout)


def _text(dom, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in dom.xpath(xpath)]


def test_every_section_is_there(dom, reported):
    assert dom.xpath("//header/@data-run-id") == ["shown"]
    for section in SECTIONS:
        assert dom.xpath(f"//section[@id='{section}']"), section
        assert dom.xpath(f"//section[@id='{section}']//svg | //section[@id='{section}']//table"), section


def test_the_funnel_equals_the_manifest(dom, reported):
    outcome, out, _ = reported
    counts = outcome.manifest["conservation"]
    funnel = dom.xpath("//section[@id='funnel']")[0]
    for key in ("items_in", "articles", "duplicates", "dropped", "failed"):
        assert funnel.get(f"data-{key.replace('_', '-')}") == str(counts[key]), key
        assert _text(funnel, f".//b[@data-key='{key}']") == [str(counts[key])], key
    assert funnel.get("data-balanced") == "true"
    feed_failures = _sql(out, "failures", "SELECT count(*) FROM t WHERE unit = 'feed' AND severity = 'error'")
    assert funnel.get("data-feed-failures") == str(feed_failures[0][0]) != "0"
    line = _text(funnel, ".//p[contains(@class, 'conservation')]")[0]
    assert line == (f"items in {counts['items_in']} = articles {counts['articles']} + duplicates "
                    f"{counts['duplicates']} + dropped {counts['dropped']} + failed {counts['failed']}: balanced")


def test_the_seed_reports_duplicate_group_has_its_copies(dom, reported, sample_site):
    _, out, _ = reported
    [(seed_id,)] = _sql(out, "articles", "SELECT article_id FROM t WHERE url = ?", [sample_site.url(IRANPRESS)])
    copies = {url for (url,) in _sql(out, "duplicates", "SELECT url FROM t WHERE canonical_article_id = ?",
                                     [seed_id])}
    assert len(copies) >= 2  # the wire repost and the tracking link
    cell = dom.xpath(f"//section[@id='duplicates']//b[@data-canonical='{seed_id}']")[0]
    assert cell.text_content() == str(len(copies))
    row = cell.getparent().getparent()
    assert set(row.xpath(".//li[@class='copy']/@data-url")) == copies
    assert "Shamkhani" in _text(row, ".//span[@class='title']")[0]


def test_sources_failures_and_entities_agree_with_the_tables(dom, reported):
    _, out, _ = reported
    per_source = _sql(out, "articles", "SELECT source, count(*) FROM t GROUP BY 1")
    shown = dom.xpath("//section[@id='sources']//table//tbody/tr")
    assert {(r[0].text_content(), int(r[1].text_content())) for r in shown} == set(per_source)
    reasons = _sql(out, "failures", "SELECT stage, error, count(*) FROM t GROUP BY 1, 2")
    rows = dom.xpath("//section[@id='failures']//table//tbody/tr")
    assert {(r[0].text_content(), r[1].text_content(), int(r[4].text_content())) for r in rows} == set(reasons)
    [(person, articles)] = _sql(out, "entities", "SELECT key, count(DISTINCT article_id) AS n FROM t "
                                "WHERE label = 'PERSON' GROUP BY key ORDER BY n DESC, sum(mentions) DESC, key LIMIT 1")
    first = dom.xpath("//section[@id='entities']//div[@data-label='PERSON']//tbody/tr")[0]
    assert (first[0].text_content(), int(first[1].text_content())) == (person, articles)
    assert not dom.xpath("//section[@id='entities']//div[@data-label='DATE']")  # names only


def test_timings_come_from_every_main_stage(dom):
    stages = {r[0].text_content() for r in dom.xpath("//section[@id='timings']//table//tbody/tr")}
    assert {"feed_fetch", "feed_parse", "fetch", "extract", "entities", "stories", "write"} <= stages


def test_a_screenshot_of_the_report_is_not_blank(reported, tmp_path):
    _, _, page = reported
    shot = tmp_path / "report.png"
    done = _browse(page, f"--screenshot={shot}", "--window-size=1200,2400")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # text, bars and panels, not one flat colour


def test_paths_with_wildcards_and_the_latest_run(reported, tmp_path, capsys):
    """A dataset under a path with spaces, brackets, * and ? is reported like any other;
    with no --run_id the latest run is reported."""
    outcome, out, _ = reported
    odd = tmp_path / "out [1] *? é"
    shutil.copytree(out, odd)
    (tmp_path / "out 1 x").mkdir()  # what "[1]" and "*?" would match, were they patterns
    html = tmp_path / "page [x].html"
    assert newsbeam(["report", str(odd), f"--html={html}"]) == 0
    assert capsys.readouterr().out.strip() == f"report: {html}"
    page = lxml_html.fromstring(html.read_text(encoding="utf-8"))
    assert page.xpath("//header/@data-run-id") == ["shown"]
    assert page.xpath("//section[@id='funnel']/@data-articles") == [str(outcome.manifest["conservation"]["articles"])]
    assert escape_pattern("a[1]*?") == "a[[]1][*][?]"


def test_no_runs_is_one_line_and_status_1(tmp_path, capsys):
    assert newsbeam(["report", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip() == f"newsbeam report: no runs under {tmp_path}"
