"""A hold-out corpus for the scale benchmarks: N unique news articles on H loopback hosts.

    python -m benchmarks.corpus --data ../shared/data --articles 1000 --hosts 20 --out /tmp/corpus

Every article is a fresh draw of real news sentences (the human-written ground truth of the
extraction benchmark and the texts of the same-story pairs, both read from ``--data`` at run
time and never written into this repository): a title sentence and 24-40 body sentences in
paragraphs, so no two articles are near-copies of each other (two draws of 30 from
thousands of sentences share almost none) and dedup, NER and extraction all do real work.
Each page is wrapped in the boilerplate a news site sends (navigation, a sidebar of
headlines, inline style and script, a comment section, a footer) up to about 60 KB, like
the pages of the extraction benchmark. Host k (127.0.0.(10+k), a loopback address of its
own, so politeness and per-host keys see H different hosts) serves its articles and one
RSS feed of them.

``build_corpus`` writes the files; ``CorpusSites`` serves them (a context manager giving
the feed URLs). The same seed gives the same corpus.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import random
import re
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.loopback import LoopbackSite

PAGE_BYTES = 60_000
DAYS = 28  # page n is published on day n % DAYS from FIRST_DAY (at hour n % 24) unless told
FIRST_DAY = datetime(2026, 10, 1, tzinfo=timezone.utc)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[A-Z“\"'])")


def sentences(data: Path) -> list[str]:
    """Every distinct sentence of 40-320 characters in the shared news texts, in a fixed order."""
    texts: list[str] = []
    truth = data / "extraction-benchmark" / "ground-truth.json"
    stories = data / "stories" / "semeval2022_task8_en_dev.csv"
    if not truth.is_file() or not stories.is_file():
        raise SystemExit(f"the corpus needs {truth} and {stories}")
    texts += [doc.get("articleBody") or "" for doc in json.loads(truth.read_text(encoding="utf-8")).values()]
    csv.field_size_limit(1 << 26)
    with stories.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            texts += [row["text1"], row["text2"]]
    seen: dict[str, None] = {}
    for text in texts:
        for para in text.splitlines():
            for s in _SENTENCE_END.split(para.strip()):
                s = " ".join(s.split())
                if 40 <= len(s) <= 320 and s[0].isupper():
                    seen.setdefault(s, None)
    return list(seen)


def _boilerplate(rng: random.Random, headlines: list[str], host: int) -> tuple[str, str, str]:
    nav = "".join(f'<li><a href="/section/{i}">{html.escape(w)}</a></li>'
                  for i, w in enumerate(["World", "Politics", "Business", "Tech", "Science", "Health",
                                         "Sport", "Culture", "Opinion", "Weather"] * 3))
    side = "".join(f'<li><a href="/more/{rng.randrange(10**6)}.html">{html.escape(h)}</a></li>'
                   for h in rng.sample(headlines, 25))
    about = "".join(f'<li><a href="/about/{i}">About us {i}</a></li>' for i in range(20))
    foot = f"<footer><p>&copy; Example News Group {host}. All rights reserved.</p><ul>{about}</ul></footer>"
    return (f'<header><nav><ul class="menu">{nav}</ul></nav></header>',
            f'<aside class="sidebar"><h3>Most read</h3><ul>{side}</ul></aside>', foot)


def _page(rng: random.Random, pool: list[str], host: int, n: int,
          chosen: list[str] | None = None, days: int = DAYS) -> tuple[str, list[str], str]:
    if chosen:  # the caller's sentences: the first is the headline, every other one is shown
        headline, body = chosen[0], chosen[1:]
        paras = [body[i:i + 3] for i in range(0, len(body), 3)]
    else:
        headline = rng.choice(pool)
        body = rng.sample(pool, rng.randint(24, 40))
        paras = [body[i:i + rng.randint(2, 4)] for i in range(0, len(body), 3)]
    title = headline[:120]
    article = "".join(f"<p>{html.escape(' '.join(p))}</p>" for p in paras)
    published = (FIRST_DAY + timedelta(days=n % days, hours=n % 24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    header, side, foot = _boilerplate(rng, pool, host)
    comments = "".join(f'<div class="comment"><b>reader{rng.randrange(999)}</b>'
                       f"<p>{html.escape(rng.choice(pool))}</p></div>" for _ in range(6))
    head = (f"<head><meta charset='utf-8'><title>{html.escape(title)} | Example News {host}</title>"
            f'<meta name="author" content="Staff writer {host}">'
            f'<meta property="article:published_time" content="{published}">'
            "<style>" + "".join(f".c{i}{{margin:{i}px;padding:{i % 7}px}}" for i in range(400)) + "</style></head>")
    page = (f"<!DOCTYPE html><html lang='en'>{head}<body>{header}<main><article>"
            f"<h1>{html.escape(title)}</h1><p class='byline'>By Staff writer {host}</p>{article}</article>"
            f"<section class='comments'><h3>Comments</h3>{comments}</section></main>{side}{foot}")
    pad = PAGE_BYTES - len(page.encode()) - 40
    script = "<script>var cfg=" + json.dumps({"k": "x" * max(pad, 0)}) + ";</script>" if pad > 0 else ""
    # The paragraphs step by 3 and take 2-4 sentences: a drawn sentence can be left out, or
    # repeated at a paragraph's start. What the page holds is the headline and the paragraphs.
    shown = list(dict.fromkeys(s for p in paras for s in p))
    return title, [headline, *shown], page + script + "</body></html>"


@dataclass(frozen=True)
class Corpus:
    root: Path
    hosts: int
    articles: int

    def feed_path(self, host: int) -> str:
        return f"feeds/host{host}.xml"


def build_corpus(data: Path, root: Path, articles: int, hosts: int, seed: int = 13,
                 drawn: dict[str, list[str]] | None = None,
                 chosen: list[list[str]] | None = None, days: int = DAYS) -> Corpus:
    """Writes ``articles`` unique pages spread evenly over ``hosts`` and one feed per host,
    published over ``days`` days (page n on day n % days, hour n % 24).
    ``drawn``, if given, receives each page's path (under ``root``) -> the pool sentences it
    shows (its title's sentence first, then the body's). ``chosen``, if given, holds each
    page's sentences instead of a draw from the pool (the first as its headline)."""
    pool = sentences(data)
    rng = random.Random(seed)
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    items: dict[int, list[str]] = {h: [] for h in range(hosts)}
    for n in range(articles):
        host = n % hosts
        title, sentences_of_page, page = _page(rng, pool, host, n, chosen[n] if chosen else None, days)
        path = root / "a" / f"h{host}" / f"{n:06d}.html"
        if drawn is not None:
            drawn[f"a/h{host}/{n:06d}.html"] = sentences_of_page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        items[host].append(f"<item><title>{html.escape(title)}</title><link>{{{{BASE}}}}/a/h{host}/{n:06d}.html</link>"
                           f"<guid>a{n}</guid></item>")
    for host, its in items.items():
        (root / "feeds" / f"host{host}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Example News {host}</title>'
            f"{''.join(its)}</channel></rss>", encoding="utf-8")
    return Corpus(root, hosts, articles)


class CorpusSites:
    """Serves a corpus, host k on 127.0.0.(10+k); ``feed_urls`` lists one feed per host."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self._stack = ExitStack()
        self.sites: list[LoopbackSite] = []

    def __enter__(self) -> "CorpusSites":
        for h in range(self.corpus.hosts):
            self.sites.append(self._stack.enter_context(LoopbackSite(self.corpus.root, host=f"127.0.0.{10 + h}")))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def feed_urls(self) -> list[str]:
        return [site.url(self.corpus.feed_path(h)) for h, site in enumerate(self.sites)]

    def write_feed_list(self, path: Path) -> Path:
        path.write_text("".join(f"{u}\n" for u in self.feed_urls()), encoding="utf-8")
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    corpus = build_corpus(Path(args.data), Path(args.out), args.articles, args.hosts)
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*.html"))
    print(f"{corpus.articles} articles on {corpus.hosts} hosts, {size / 1e6:.1f} MB of pages in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
