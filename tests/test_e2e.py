"""End to end: the real pipeline over the sample site on loopback, the real en_core_web_sm,
real Parquet read back with DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest
from conftest import ROOT, RUNNER, SAMPLES

from pipeline.cli import run
from pipeline.demo import materialise_feed_list
from pipeline.loopback import LoopbackSite
from transforms.tag_entities import entity_key

pytestmark = pytest.mark.e2e

IRANPRESS = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"
OBSERVER = "observer/news/syrian-delegation-tehran.html"
REPOST = "wire/stories/2020-01-07-syria-iran-talks.html"
EDITED = "wire/stories/2020-01-08-syrian-pm-in-tehran.html"
DEAD = "iranpress/2020/01/08/markets-close-higher.html"


@pytest.fixture(scope="module")
def first_run(sample_site, tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", work)
    out = work / "out"
    outcome = run([f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}",
                   "--allow_private_hosts", "--per_host_delay=0.05", "--run_id=first"])
    return outcome, out, feeds


def sql(out, table: str, query: str, params=None):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{out}/{table}/**/*.parquet', "
                "hive_partitioning=true)")
    return con.execute(query, params or []).fetchall()


def test_seed_reports_are_articles_with_their_text(first_run, sample_site):
    _, out, _ = first_run
    rows = dict(sql(out, "articles", "SELECT url, text FROM t"))
    assert set(rows) == {sample_site.url(p) for p in (IRANPRESS, OBSERVER,
                         "iranpress/2020/01/08/tram-line-approved.html", "observer/news/snow-closes-roads.html")}
    iranpress, observer = rows[sample_site.url(IRANPRESS)], rows[sample_site.url(OBSERVER)]
    assert "Syrian Prime Minister Imad Mohammad Deeb Khamis met with the secretary" in iranpress
    assert "Headed by Syrian Prime Minister Imad Khamis, the delegation" in observer
    assert "All rights reserved" not in iranpress and "Subscribe to our newsletter" not in observer


def test_entities_from_the_real_model(first_run, sample_site):
    _, out, _ = first_run
    found = set(sql(out, "articles",
                    "SELECT url, e.text, e.label FROM (SELECT url, unnest(entities) AS e FROM t)"))
    ip, ob = sample_site.url(IRANPRESS), sample_site.url(OBSERVER)
    for expected in [(ip, "Ali Shamkhani", "PERSON"), (ip, "Tehran", "GPE"), (ob, "Imad Khamis", "PERSON"),
                     (ob, "Ali Ayoub", "PERSON"), (ob, "Tehran", "GPE"), (ob, "Syria", "GPE")]:
        assert expected in found
    offsets = sql(out, "articles", "SELECT count(*) FROM (SELECT text, unnest(entities) AS e FROM t) "
                                   "WHERE substr(text, e.start + 1, e.\"end\" - e.start) <> e.text")
    assert offsets == [(0,)]


def test_repost_and_tracking_link_are_duplicates_of_the_original(first_run, sample_site):
    _, out, _ = first_run
    [(original_id,)] = sql(out, "articles", "SELECT article_id FROM t WHERE url = ?",
                           [sample_site.url(IRANPRESS)])
    [(observer_id,)] = sql(out, "articles", "SELECT article_id FROM t WHERE url = ?", [sample_site.url(OBSERVER)])
    dups = sql(out, "duplicates", "SELECT url, method, canonical_article_id FROM t ORDER BY method")
    assert dups == [(sample_site.url(REPOST), "exact_text", original_id),
                    (sample_site.url(EDITED), "near_text", observer_id),
                    (sample_site.url(IRANPRESS) + "?utm_source=wire&utm_medium=rss#top", "url", original_id)]
    [(similarity,)] = sql(out, "duplicates", "SELECT similarity FROM t WHERE method = 'near_text'")
    assert 0.8 <= similarity < 1.0


def test_dead_link_and_malformed_feed_are_failures(first_run, sample_site):
    _, out, _ = first_run
    rows = sql(out, "failures", "SELECT stage, url, error, http_status, severity FROM t ORDER BY stage, url")
    assert ("fetch", sample_site.url(DEAD), "HttpError", 404, "error") in rows
    assert ("feed_parse", sample_site.url("wire/broken.xml"), "SAXParseException", None, "error") in rows
    assert all(r[0] in {"fetch", "feed_parse"} for r in rows), rows


def test_manifest_accounts_for_every_item(first_run):
    outcome, out, _ = first_run
    manifest = json.loads((out / "runs" / "first.json").read_text())
    assert manifest == outcome.manifest | {"seconds": manifest["seconds"]}
    assert manifest["state"] == "DONE"
    assert manifest["conservation"] == {"items_in": 8, "articles": 4, "duplicates": 3, "dropped": 0,
                                        "failed": 1, "accounted": 8, "balanced": True}
    # Counted from the elements by the run itself (commit.RecordCounts); the runner's metrics,
    # counted apart by each stage, agree on the FnApiRunner.
    assert manifest["conservation_source"] == "run's counts"
    assert manifest["conservation_from_metrics"] == manifest["conservation"]
    assert manifest["counted"]["articles_files"] == len(list((out / "articles").rglob("*.parquet")))
    assert manifest["counted"]["feed_failures"] == 1  # the broken feed: not an item
    assert manifest["stages"]["fetch"]["received"] == 7  # 8 items, one URL twice: fetched once
    assert manifest["stages"]["entities"]["emitted"] == 4
    # The story stage is a stage of the manifest like the others (its time and counts).
    [(stories,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/stories/**/*.parquet')").fetchall()
    assert manifest["stages"]["stories"]["stories"] == stories > 0
    assert manifest["stages"]["stories"]["busy_micros"] > 0
    assert "stories" not in manifest["other_metrics"]
    assert not (out / "_temporary" / "first").exists()


def test_second_run_sends_validators_and_fetches_no_pages(first_run, sample_site):
    _, out, feeds = first_run
    before_files = sorted(p.name for p in out.rglob("*.parquet"))
    before_requests = len(sample_site.requests)
    # Invoked as a launcher does (Airflow's Beam operator: `python pipeline/__main__.py --opts`).
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipeline" / "__main__.py"), f"--feeds={feeds}", f"--output={out}",
         f"--runner={RUNNER}", "--allow_private_hosts", "--per_host_delay=0.05", "--run_id=second"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "items in 0 = articles 0 + duplicates 0 + dropped 0 + failed 0: balanced" in proc.stdout
    manifest = json.loads((out / "runs" / "second.json").read_text())
    assert manifest["stages"]["feed_fetch"]["not_modified"] == 4  # every feed answered 304
    requested = sample_site.requests[before_requests:]
    assert sorted(requested) == sorted(["/iranpress/rss.xml", "/observer/atom.xml", "/wire/rss.xml",
                                        "/wire/broken.xml"])  # feeds only: no page, no robots.txt
    assert sorted(p.name for p in out.rglob("*.parquet")) == before_files  # nothing new to write


def test_without_etags_seen_urls_are_not_fetched_again_unless_refetch(tmp_path):
    """A server that ignores conditional GET: run 2 still fetches no article it has."""
    with LoopbackSite(SAMPLES / "site", etags=False) as site:
        feeds = materialise_feed_list(site, SAMPLES / "feeds.txt", tmp_path)
        out = tmp_path / "out"
        common = [f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
                  "--per_host_delay=0.05"]
        first = run([*common, "--run_id=r1"])
        assert first.manifest["conservation"]["articles"] == 4
        mark = len(site.requests)
        second = run([*common, "--run_id=r2"])
        assert second.manifest["conservation"] | {"accounted": 0} == {
            "items_in": 8, "articles": 0, "duplicates": 0, "dropped": 7, "failed": 1, "accounted": 0,
            "balanced": True}
        assert second.manifest["stages"]["fetch"]["dropped_seen"] == 7
        assert second.manifest["conservation_from_metrics"] == second.manifest["conservation"]
        assert second.manifest["counted"]["dropped_seen"] == 7
        pages = [r for r in site.requests[mark:] if r.endswith(".html")]
        assert pages == ["/iranpress/2020/01/08/markets-close-higher.html"]  # only the dead link, again
        third = run([*common, "--run_id=r3", "--refetch"])
        assert third.manifest["conservation"]["articles"] == 4
        seen_files = sorted(p.name for p in (out / "state" / "seen").glob("*.parquet"))
        assert seen_files == ["r1-00000.parquet", "r3-00000.parquet"]  # r2 ingested nothing new
        # Past --state_max_files the seen URLs and feed validators are merged into one file each
        # after the run, and the next run reads the merged files like the old ones.
        fourth = run([*common, "--run_id=r4", "--state_max_files=1"])
        assert fourth.manifest["stages"]["fetch"]["dropped_seen"] == 7
        compacted = sorted(p.rsplit("/", 1)[-1] for p in fourth.manifest["state_files_compacted"]
                           if "/state/seen/" in p)
        assert compacted == seen_files
        assert [p.name for p in (out / "state" / "seen").glob("*.parquet")] == ["r4-compacted.parquet"]
        fifth = run([*common, "--run_id=r5"])
        assert fifth.manifest["stages"]["fetch"]["dropped_seen"] == 7
    names = sorted(p.name for p in (out / "articles").rglob("*.parquet"))
    assert {n.split("-")[0] for n in names} == {"r1", "r3"}
    runs = duckdb.sql(f"SELECT run_id, count(*) FROM read_parquet('{out}/articles/**/*.parquet') "
                      "GROUP BY run_id ORDER BY run_id").fetchall()
    assert runs == [("r1", 4), ("r3", 4)]


def test_a_copy_in_a_later_run_points_to_the_first_runs_article(sample_site, tmp_path):
    """Run 1 ingests the Observer's report; run 2 only the wire, whose edited copy of it
    becomes a near_text duplicate of run 1's article through the index in state/dedup."""
    observer = tmp_path / "observer.txt"
    observer.write_text(sample_site.url("observer/atom.xml") + "\n")
    wire = tmp_path / "wire.txt"
    wire.write_text(sample_site.url("wire/rss.xml") + "\n")
    out = tmp_path / "out"
    common = [f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts", "--per_host_delay=0.02"]
    run([f"--feeds={observer}", *common, "--run_id=r1"])
    second = run([f"--feeds={wire}", *common, "--run_id=r2"])
    assert second.manifest["stages"]["dedup"]["dropped_near_text"] == 1
    [(first_id,)] = duckdb.sql(f"SELECT article_id FROM read_parquet('{out}/articles/**/*.parquet') "
                               f"WHERE url = '{sample_site.url(OBSERVER)}'").fetchall()
    near = duckdb.sql("SELECT url, canonical_article_id, run_id "
                      f"FROM read_parquet('{out}/duplicates/**/*.parquet') WHERE method = 'near_text'").fetchall()
    assert near == [(sample_site.url(EDITED), first_id, "r2")]
    index_files = sorted(p.name for p in (out / "state" / "dedup").glob("*.parquet"))
    assert index_files == ["r1-00000.parquet", "r2-00000.parquet"]  # run 1's index survived run 2


def test_a_failed_run_leaves_the_state_as_it_was(sample_site, tmp_path, monkeypatch):
    # The model is checked before a run starts (a usage error); skipping that check lets
    # the workers fail to load it, as a model removed after the start would.
    monkeypatch.setattr("pipeline.validate._check_model", lambda name: None)
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    common = [f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
              "--per_host_delay=0.02"]
    run([*common, "--run_id=good", "--no_near_dedup"])
    before = sorted(p.relative_to(out).as_posix() for p in (out / "state").rglob("*.parquet"))
    with pytest.raises(Exception, match="no-such-model"):  # the NER model cannot be loaded: the run fails
        run([*common, "--run_id=bad", "--refetch", f"--ner_model={tmp_path / 'no-such-model'}"])
    after = sorted(p.relative_to(out).as_posix() for p in (out / "state").rglob("*.parquet"))
    assert after == before and all("good-" in p for p in after)
    assert json.loads((out / "runs" / "bad.json").read_text())["state"] == "FAILED"
    assert not (out / "_temporary" / "bad").exists()


def test_the_two_seed_reports_share_keys_for_the_same_people(first_run, sample_site):
    _, out, _ = first_run
    rows = sql(out, "articles", "SELECT url, e.key, e.text FROM (SELECT url, unnest(entities) AS e FROM t) "
                                "WHERE e.label = 'PERSON'")
    keys = {url: {k for u, k, _ in rows if u == url} for url in {r[0] for r in rows}}
    ip, ob = keys[sample_site.url(IRANPRESS)], keys[sample_site.url(OBSERVER)]
    for spellings in (("Walid Al Muallem", "Walid al-Moallem"), ("Qasem Soleimani", "Qassem Soleimani"),
                      ("Imad Mohammad Deeb Khamis", "Imad Khamis")):
        key_of = {t: k for _, k, t in rows}
        assert key_of[spellings[0]] == key_of[spellings[1]], spellings
    shared = ip & ob
    assert {entity_key(n, "PERSON") for n in ("Walid Muallem", "Qasem Soleimani", "Imad Khamis", "Ali Ayoub")} <= shared
    key_of = {t: k for _, k, t in rows}
    assert key_of["Ali Shamkhani"] != key_of["Ali Ayoub"]  # same first name, different people
    alone = [k for _, k, t in rows if t == "Khamis"]
    assert alone and set(alone) == {entity_key("Imad Khamis", "PERSON")}  # the within-article alias
    # "Jahangiri" alone in one report, "Eshaq Jahangiri" in the other: one inference batch here
    assert {k for _, k, t in rows if t == "Jahangiri"} == {key_of["Eshaq Jahangiri"]}


def test_flat_entities_table_agrees_with_the_nested_column(first_run):
    _, out, _ = first_run
    nested = duckdb.sql(
        f"SELECT article_id, e.key, e.label, count(*) FROM (SELECT article_id, unnest(entities) AS e "
        f"FROM read_parquet('{out}/articles/**/*.parquet') WHERE run_id = 'first') "
        "GROUP BY ALL ORDER BY ALL").fetchall()
    flat = duckdb.sql(
        f"SELECT article_id, key, label, mentions FROM read_parquet('{out}/entities/**/*.parquet', "
        "hive_partitioning=true) WHERE run_id = 'first' ORDER BY ALL").fetchall()
    assert flat == nested and len(flat) > 20
    forms = duckdb.sql(f"SELECT surface_forms FROM read_parquet('{out}/entities/**/*.parquet') "
                       f"WHERE key = '{entity_key('Imad Khamis', 'PERSON')}' AND run_id = 'first'").fetchall()
    assert {f for (fs,) in forms for f in fs} >= {"Imad Mohammad Deeb Khamis", "Imad Khamis"}


def test_the_seed_reports_are_one_story_and_the_unrelated_articles_are_not(first_run, sample_site):
    """Two outlets, one meeting: one story_id, named after the earlier report; the snow and
    tram articles each a story of their own; every copy in the canonical's story."""
    _, out, _ = first_run
    story = dict(sql(out, "articles", "SELECT url, story_id FROM t"))
    [(iranpress_id,)] = sql(out, "articles", "SELECT article_id FROM t WHERE url = ?", [sample_site.url(IRANPRESS)])
    assert story[sample_site.url(IRANPRESS)] == story[sample_site.url(OBSERVER)] == iranpress_id  # 01-07 first
    others = {story[sample_site.url(p)] for p in ("iranpress/2020/01/08/tram-line-approved.html",
                                                  "observer/news/snow-closes-roads.html")}
    assert len(others) == 2 and iranpress_id not in others
    assert {s for (s,) in sql(out, "duplicates", "SELECT story_id FROM t")} == {iranpress_id}
    rows = sql(out, "stories", "SELECT story_id, articles, outlets, first_published < last_published FROM t "
                               "ORDER BY articles DESC, story_id")
    assert rows[0][:2] == (iranpress_id, 2) and sorted(rows[0][2]) == ["Erbil Observer", "Iran Press Daily"]
    assert rows[0][3] is True
    assert sorted(r[0] for r in rows[1:]) == sorted(others) and all(r[1] == 1 for r in rows[1:])


def test_summary_shows_the_top_story_first(first_run):
    from rich.console import Console

    from pipeline.summary import print_summary

    outcome, out, _ = first_run
    console = Console(record=True, width=200)
    print_summary(str(out), "first", console)
    text = console.export_text()
    stories = text.split("Top stories", 1)[1].split("Failures, drops and warnings", 1)[0]
    lines = [line for line in stories.splitlines() if "Shamkhani" in line or "snow" in line.lower()]
    assert "2" in lines[0].split()[1:3] and "Iran Press Daily" in lines[0] and "Erbil Observer" in lines[0]
    assert "snow" in lines[1].lower()


def _one_feed_run(site, work, out, feed: str, run_id: str, *extra: str):
    feeds = work / f"{run_id}.txt"
    feeds.write_text(site.url(feed) + "\n", encoding="utf-8")
    return run([f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
                "--per_host_delay=0.05", f"--run_id={run_id}", *extra])


@pytest.fixture(scope="module")
def story_runs(sample_site, tmp_path_factory):
    """Day one: Iran Press's feed only (its report of the meeting, the tram line). Day two,
    on a copy of that output: the Observer's feed (its report of the meeting, the snow),
    once with the default window and once with a 1-hour window (the reports are 6 hours
    apart, so the first run's story has expired for it)."""
    import shutil

    work = tmp_path_factory.mktemp("stories")
    day_one = work / "day-one"
    _one_feed_run(sample_site, work, day_one, "iranpress/rss.xml", "one")
    joined, expired = work / "joined", work / "expired"
    shutil.copytree(day_one, joined)
    shutil.copytree(day_one, expired)
    _one_feed_run(sample_site, work, joined, "observer/atom.xml", "two")
    _one_feed_run(sample_site, work, expired, "observer/atom.xml", "two", "--story_window_hours=1")
    return joined, expired


def test_a_follow_up_in_a_later_run_joins_the_earlier_runs_story(story_runs, sample_site):
    joined, _ = story_runs
    [(iranpress_id, first_story, first_run_id)] = sql(
        joined, "articles", "SELECT article_id, story_id, run_id FROM t WHERE url = ?", [sample_site.url(IRANPRESS)])
    [(observer_story, run_id)] = sql(joined, "articles", "SELECT story_id, run_id FROM t WHERE url = ?",
                                     [sample_site.url(OBSERVER)])
    assert (first_run_id, run_id) == ("one", "two")
    assert first_story == observer_story == iranpress_id  # the earliest article's id, across runs
    [snow] = sql(joined, "articles", "SELECT story_id FROM t WHERE url LIKE '%snow%'")
    assert snow[0] not in (iranpress_id, None)
    # stories/: the second run's row is the whole story (both runs' articles and outlets)
    rows = sql(joined, "stories", "SELECT run_id, articles, outlets FROM t WHERE story_id = ? ORDER BY run_id",
               [iranpress_id])
    assert [(r, n) for r, n, _ in rows] == [("one", 1), ("two", 2)]
    assert sorted(rows[1][2]) == ["Erbil Observer", "Iran Press Daily"]
    # state/stories/: the latest row per story has both members; the next run would load it
    state = duckdb.sql(f"SELECT run_id, article_ids FROM read_parquet('{joined}/state/stories/*.parquet') "
                       f"WHERE story_id = '{iranpress_id}' ORDER BY run_id").fetchall()
    assert [r for r, _ in state] == ["one", "two"] and len(state[1][1]) == 2


def test_an_expired_story_is_not_joined(story_runs, sample_site):
    _, expired = story_runs
    [(iranpress_id,)] = sql(expired, "articles", "SELECT article_id FROM t WHERE url = ?", [sample_site.url(IRANPRESS)])
    [(observer_id, observer_story)] = sql(expired, "articles", "SELECT article_id, story_id FROM t WHERE url = ?",
                                          [sample_site.url(OBSERVER)])
    assert observer_story == observer_id != iranpress_id  # a story of its own
    assert sql(expired, "stories", "SELECT count(*) FROM t WHERE story_id = ? AND run_id = 'two'",
               [iranpress_id]) == [(0,)]


@pytest.fixture(scope="module")
def walled_run(tmp_path_factory):
    """The sample site with the Observer's two pages behind walls: its report of the
    meeting behind a paywall, its snow report behind a cookie wall (the feed keeps both
    headlines). Iran Press's report of the meeting is read as usual."""
    from samples_util import walled_site

    work = tmp_path_factory.mktemp("walls")
    with LoopbackSite(walled_site(work / "site")) as site:
        feeds = work / "feeds.txt"
        feeds.write_text(f"{site.url('iranpress/rss.xml')}\n{site.url('observer/atom.xml')}\n", encoding="utf-8")
        out = work / "out"
        outcome = run([f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
                       "--per_host_delay=0.05", "--run_id=walls"])
        return outcome, out, site


def test_a_report_behind_a_wall_joins_its_story_by_its_headline(walled_run):
    outcome, out, site = walled_run
    assert outcome.manifest["conservation"]["balanced"]
    [(iranpress_id, story)] = sql(out, "articles", "SELECT article_id, story_id FROM t WHERE url = ?",
                                  [site.url(IRANPRESS)])
    assert story == iranpress_id
    walls = dict((url, (error, story_id)) for url, error, story_id in sql(
        out, "failures", "SELECT url, error, story_id FROM t WHERE stage = 'extract'"))
    # The paywalled report of the meeting is the Iran Press story's; the snow wall is no one's.
    assert walls[site.url(OBSERVER)] == ("interstitial", iranpress_id)
    assert walls[site.url("observer/news/snow-closes-roads.html")] == ("interstitial", None)
    # A headline changes no story: the story's row counts the one article it has.
    assert sql(out, "stories", "SELECT articles, outlets FROM t WHERE story_id = ?", [iranpress_id]) == [
        (1, ["Iran Press Daily"])]
    # Other failure rows carry no story.
    assert sql(out, "failures", "SELECT count(*) FROM t WHERE story_id IS NOT NULL") == [(1,)]


def test_summary_counts_a_storys_reports_that_were_not_read(walled_run):
    from rich.console import Console

    from pipeline.summary import print_summary

    _, out, _ = walled_run
    console = Console(record=True, width=200)
    print_summary(str(out), "walls", console)
    stories = console.export_text().split("Top stories", 1)[1].split("Failures, drops and warnings", 1)[0]
    assert "not read" in stories
    [meeting] = [line for line in stories.splitlines() if "Shamkhani" in line]
    [tram] = [line for line in stories.splitlines() if "tram" in line.lower()]
    # articles, outlets, not read: the meeting has 1 article, Iran Press's, and 1 report behind a wall
    assert [c.strip() for c in meeting.split("│")[1:4]] == ["1", "Iran Press Daily", "1"]
    assert [c.strip() for c in tram.split("│")[3:4]] == ["0"]


def test_the_report_counts_a_storys_reports_that_were_not_read(walled_run, tmp_path):
    lxml_html = pytest.importorskip("lxml.html")
    from pipeline.report import write_report

    outcome, out, _ = walled_run
    dom = lxml_html.parse(write_report(str(out), "walls", str(tmp_path / "report.html"))).getroot()
    header = [th.text_content() for th in dom.xpath("//section[@id='stories']//table//thead//th")]
    rows = {tr[0].text_content(): [td.text_content() for td in tr]
            for tr in dom.xpath("//section[@id='stories']//table//tbody/tr")}
    meeting = next(cells for title, cells in rows.items() if "Shamkhani" in title)
    tram = next(cells for title, cells in rows.items() if "tram" in title.lower())
    column = header.index("not read")
    assert (meeting[column], tram[column]) == ("1", "0")


def test_a_report_behind_a_wall_joins_an_earlier_runs_story(tmp_path):
    """Day one reads Iran Press's report of the meeting; day two, on the same output, only
    the walled Observer feed: its paywalled report joins day one's story (from
    state/stories/), and day one's story row is not written again (no article joined it)."""
    from samples_util import walled_site

    with LoopbackSite(walled_site(tmp_path / "site")) as site:
        out = tmp_path / "out"
        _one_feed_run(site, tmp_path, out, "iranpress/rss.xml", "one")
        outcome = _one_feed_run(site, tmp_path, out, "observer/atom.xml", "two")
        [(iranpress_id, story)] = sql(out, "articles", "SELECT article_id, story_id FROM t WHERE url = ?",
                                      [site.url(IRANPRESS)])
        walls = dict(sql(out, "failures", "SELECT url, story_id FROM t WHERE run_id = 'two' AND stage = 'extract'"))
        assert outcome.manifest["conservation"]["balanced"]
        assert story == iranpress_id
        assert walls == {site.url(OBSERVER): iranpress_id, site.url("observer/news/snow-closes-roads.html"): None}
        assert sql(out, "stories", "SELECT run_id FROM t WHERE story_id = ?", [iranpress_id]) == [("one",)]
