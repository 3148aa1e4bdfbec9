"""Is a headline alone as safe as a whole article for joining a story? (transforms._stories.HeadlineMatcher)

    python -m benchmarks.story_headlines --data ../shared/data

A dropped item (a wall, a too short text) joins a story by its headline at the articles'
own rule and threshold. This checks that choice on ``stories/semeval2022_task8_en_dev.csv``
(its texts stay in ``--data``): each of the file's 321 articles in turn is left out, the
other 320 are grouped as the batch stage groups them (publication order of
``story_pipeline``'s first order, seed 13; titles are the text's first ten words, as there),
and the article is then offered those stories, once as its headline alone (as a wall is)
and once whole (title and text, as an article is scored), by ``HeadlineMatcher``. Counted
for each way: the articles that joined the story of a same-story partner (Overall <= 1.5),
of a different-story partner (>= 3.5), another story, or none. No setting is chosen here;
the threshold is the default ``--story_threshold``.
Results: benchmarks/results/story_headlines.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from benchmarks._results import save
from benchmarks.story_pipeline import DAY, DIFFERENT, FILE, FIRST_SEED, SAME, read_rows
from transforms._stories import DocumentFrequencies, HeadlineMatcher, StoryConfig, StoryIndex, profile

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "story_headlines.json"


def offered(rows: list[dict], seed: int = FIRST_SEED) -> dict:
    texts: dict[str, str] = {}
    partners: dict[str, list[tuple[str, float]]] = {}
    for row in rows:
        a, b = row["pair_id"].split("_")
        texts.setdefault(a, row["text1"])
        texts.setdefault(b, row["text2"])
        partners.setdefault(a, []).append((b, float(row["Overall"])))
        partners.setdefault(b, []).append((a, float(row["Overall"])))
    order = sorted(texts)
    random.Random(seed).shuffle(order)
    published = {a: f"{DAY}T{n * 24 // len(order):02d}:{n % 60:02d}:00Z" for n, a in enumerate(order)}
    title = {a: " ".join(texts[a].split()[:10]) for a in order}
    whole = {a: profile(a, published[a], a, title[a], " ".join(texts[a].split()[10:])) for a in order}
    counts = {way: {"same_partners_story": 0, "different_partners_story": 0, "another_story": 0, "none": 0}
              for way in ("headline_alone", "whole_article")}
    config = StoryConfig()
    for left_out in order:
        rest = [whole[a] for a in order if a != left_out]
        df = DocumentFrequencies()
        for p in rest:
            df.add(p.terms)
        stories = list(StoryIndex(config).assign_closing(rest, df))
        ways = {"headline_alone": profile(left_out, published[left_out], "walled", title[left_out], ""),
                "whole_article": whole[left_out]}
        for way, p in ways.items():
            matcher = HeadlineMatcher(config, df, [(left_out, p)])
            for story in stories:
                matcher.offer(story)
            joined = matcher.matches().get(left_out)
            if joined is None:
                counts[way]["none"] += 1
                continue
            members = set(next(s.members for s in stories if s.story_id == joined))
            scores = [overall for partner, overall in partners[left_out] if partner in members]
            kind = ("same_partners_story" if any(o <= SAME for o in scores) else
                    "different_partners_story" if any(o >= DIFFERENT for o in scores) else "another_story")
            counts[way][kind] += 1
    return {"articles": len(order),
            "with_a_same_story_partner": sum(1 for a in order if any(o <= SAME for _, o in partners[a])),
            "with_a_different_story_partner": sum(1 for a in order if any(o >= DIFFERENT for _, o in partners[a])),
            "threshold": config.threshold, **counts}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story_headlines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    result = {"benchmark": "story_headlines", "file": str(FILE),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **offered(read_rows(Path(args.data)))}
    print(json.dumps(result, indent=2))
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
