"""How the interstitial drop (``transforms.extract_articles.notice_share``) scores real pages.

    python -m benchmarks.interstitials --data ../shared/data

Two sets, each text's share of words in sentences about access to the site (login,
paywall, ad-blocker, cookie or JavaScript notices); at ``INTERSTITIAL_SHARE`` or more a
page is dropped as ``interstitial``:

- the extraction benchmark's 181 real articles, as newsbeam extracts them
  (``main_text``): none should be flagged (false positives);
- the texts of the stories file's scored pairs (as the file gives them, title included):
  its login, paywall, ad-blocker and cookie walls against its real articles. The patterns
  were written after reading these walls, so this set shows their reach on the walls they
  were written for, not on new ones.

Writes benchmarks/results/interstitials.json: counts, the highest shares, and per stories
text only its article id, word count and share (the texts never leave ``../shared``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from pathlib import Path

from benchmarks._results import save
from benchmarks.story_signal import DIFFERENT, FILE, SAME
from transforms.extract_articles import INTERSTITIAL_SHARE, _parsed, count_words, main_text, notice_share

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "interstitials.json"


def extraction_shares(data: Path) -> dict[str, float]:
    """page id -> notice share of newsbeam's main text of each extraction-benchmark page."""
    root = data / "extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    shares = {}
    for key, value in truth.items():
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        _, text, _ = main_text(_parsed(html), value["url"])
        shares[key] = notice_share(text)
    return shares


def stories_texts(data: Path) -> dict[str, str]:
    """article id -> text of every article in a scored pair (same or different story)."""
    csv.field_size_limit(1 << 30)
    with (data / FILE).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not SAME < float(r["Overall"]) < DIFFERENT]
    texts = {}
    for row in rows:
        first, second = row["pair_id"].split("_")
        texts[first], texts[second] = row["text1"], row["text2"]
    return texts


def summary(shares: dict[str, float]) -> dict:
    flagged = sorted((k for k, v in shares.items() if v >= INTERSTITIAL_SHARE), key=lambda k: -shares[k])
    kept = [v for v in shares.values() if v < INTERSTITIAL_SHARE]
    return {"texts": len(shares), "flagged": len(flagged), "flagged_ids": flagged,
            "highest_share_flagged": round(max((shares[k] for k in flagged), default=0.0), 4),
            "lowest_share_flagged": round(min((shares[k] for k in flagged), default=0.0), 4),
            "highest_share_not_flagged": round(max(kept, default=0.0), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args(argv)
    started = time.monotonic()
    bench = extraction_shares(args.data)
    texts = stories_texts(args.data)
    stories = {k: notice_share(t) for k, t in texts.items()}
    result = {
        "benchmark": "interstitials",
        "threshold": INTERSTITIAL_SHARE,
        "extraction_benchmark": summary(bench),
        "stories": {**summary(stories),
                    "top": [{"article_id": k, "words": count_words(texts[k]), "share": round(stories[k], 4)}
                            for k in sorted(stories, key=lambda k: -stories[k])[:10]]},
        "seconds": round(time.monotonic() - started, 1),
    }
    save(RESULTS, result)
    for name in ("extraction_benchmark", "stories"):
        part = result[name]
        print(f"{name}: {part['flagged']} of {part['texts']} flagged (shares {part['lowest_share_flagged']}-"
              f"{part['highest_share_flagged']}); highest share not flagged {part['highest_share_not_flagged']}")
    return result


if __name__ == "__main__":
    main()
