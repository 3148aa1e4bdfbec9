"""Every hostile case gets a clear failure row with its stage and reason, and the run
still completes and balances. One real pipeline run over a misbehaving loopback server."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import RUNNER
from hostile_site import HostileSite

from pipeline.cli import run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    with HostileSite() as site:
        feeds = work / "feeds.txt"
        feeds.write_text("\n".join(site.base + p for p in
                                   ("/feed.xml", "/laughs.xml", "/garbage.xml", "/down.xml")) + "\n")
        outcome = run([f"--feeds={feeds}", f"--output={work / 'out'}", f"--runner={RUNNER}",
                       "--allow_private_hosts", "--fetch_timeout=1.5", "--max_body_bytes=300000",
                       "--per_host_delay=0.02", "--backoff_base=0.05", "--max_retries=2",
                       "--min_words=20", "--run_id=hostile"])
        yield outcome, work / "out", site


def rows(out, table):
    return duckdb.sql(f"SELECT * FROM read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true)")


def failure(out, url_suffix):
    found = duckdb.sql(
        f"SELECT stage, error, severity, http_status, detail FROM read_parquet('{out}/failures/**/*.parquet') "
        f"WHERE url LIKE '%{url_suffix}'").fetchall()
    assert len(found) == 1, (url_suffix, found)
    return found[0]


def test_run_completes_and_balances(hostile_run):
    outcome, out, _ = hostile_run
    manifest = json.loads((out / "runs" / "hostile.json").read_text())
    assert manifest["state"] == "DONE"
    assert manifest["conservation"]["balanced"] is True
    assert manifest["conservation"]["items_in"] == 17
    # The run's own count (an entry without a link is an item taken in, and a failure) and
    # the runner's metrics agree.
    assert manifest["conservation_source"] == "run's counts"
    assert manifest["conservation"] == manifest["conservation_from_metrics"]


@pytest.mark.parametrize("suffix,stage,error,severity", [
    ("/slow-drip.html", "fetch", "FetchTimeout", "error"),
    ("/slow-headers.html", "fetch", "FetchTimeout", "error"),
    ("/huge.html", "fetch", "BodyTooLarge", "error"),
    ("/bomb.html", "fetch", "BodyTooLarge", "error"),
    ("/loop-a.html", "fetch", "TooManyRedirects", "error"),
    ("/to-file.html", "fetch", "UnsupportedScheme", "error"),
    ("/report.pdf", "fetch", "not_html", "drop"),
    ("/image.html", "fetch", "not_html", "drop"),
    ("/missing.html", "fetch", "HttpError", "error"),
    ("/forbidden.html", "fetch", "HttpError", "error"),
    ("/private/secret.html", "fetch", "robots", "drop"),
    ("/refused.html", "fetch", "ConnectionFailed", "error"),
    ("/laughs.xml", "feed_parse", "XmlEntityDeclaration", "error"),
    ("/down.xml", "feed_fetch", "HttpError", "error"),
])
def test_each_hostile_case_is_a_failure_row(hostile_run, suffix, stage, error, severity):
    _, out, _ = hostile_run
    got = failure(out, suffix)
    assert got[:3] == (stage, error, severity), got


def test_garbage_feed_is_a_parse_failure(hostile_run):
    _, out, _ = hostile_run
    stage, error, severity, _, _ = failure(out, "/garbage.xml")
    assert (stage, severity) == ("feed_parse", "error")


def test_an_entry_without_an_http_link_is_accounted_for(hostile_run):
    _, out, _ = hostile_run
    assert failure(out, "desk@example.org")[:3] == ("feed_parse", "MissingLink", "error")


def test_4xx_is_never_retried_and_5xx_is(hostile_run):
    _, out, site = hostile_run
    assert len(site.log["/forbidden.html"]) == 1
    assert len(site.log["/missing.html"]) == 1
    assert len(site.log["/down.xml"]) == 3  # first try + max_retries=2
    assert failure(out, "/down.xml")[3] == 500


def test_retries_recover_a_flaky_server(hostile_run):
    _, out, site = hostile_run
    assert len(site.log["/flaky.html"]) == 3  # 503, 503, 200
    urls = [r[0] for r in rows(out, "articles").select("url").fetchall()]
    assert site.base + "/flaky.html" in urls


def test_retry_after_is_honoured(hostile_run):
    _, out, site = hostile_run
    first, second = site.log["/rate-limited.html"]
    assert second - first >= 1.0
    urls = [r[0] for r in rows(out, "articles").select("url").fetchall()]
    assert site.base + "/rate-limited.html" in urls


def test_robots_disallowed_page_is_never_requested(hostile_run):
    _, _, site = hostile_run
    assert site.log["/private/secret.html"] == []
    assert len(site.log["/robots.txt"]) == 1  # once per host per run


def test_wrong_charset_is_replaced_not_fatal(hostile_run):
    _, out, site = hostile_run
    text = duckdb.sql(f"SELECT text FROM read_parquet('{out}/articles/**/*.parquet') "
                      f"WHERE url = '{site.base}/latin1.html'").fetchall()
    assert len(text) == 1 and "The council met on Monday" in text[0][0]


def test_guard_on_refuses_loopback_links_with_rows(tmp_path):
    with HostileSite() as site:
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(site.base + "/feed.xml\n")
        outcome = run([f"--feeds={feeds}", f"--output={tmp_path / 'out'}", f"--runner={RUNNER}",
                       "--run_id=guarded"])
        assert site.log == {}  # nothing was ever requested
    assert outcome.manifest["state"] == "DONE" and outcome.manifest["conservation"]["balanced"]
    got = duckdb.sql(f"SELECT stage, error FROM read_parquet('{tmp_path}/out/failures/**/*.parquet')").fetchall()
    assert got == [("feed_fetch", "BlockedAddress")]
