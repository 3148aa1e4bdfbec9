"""Story grouping and languages: what the stop words of languages other than English change.

    python -m benchmarks.story_languages --data ../shared/data

``transforms._stories.stop_words``: an article in a language other than English is profiled
without its language's stop words (spaCy's list). Three ways of profiling, each run through
the grouping algorithm (``StoryIndex``, the defaults of ``StoryConfig``) in-process:

- ``none``: no stop words left out (newsbeam before this change);
- ``non_english``: the stop words of every language but English left out (newsbeam until
  2026-11-29);
- ``english_voice``: those, and of English its first- and second-person pronouns
  (``transforms._stories.ENGLISH_VOICE``: newsbeam now);
- ``all``: English stop words left out too.

On two sets:

- the extraction benchmark's pages with 50 words or more (its human-written texts; each
  page's language as newsbeam takes it: the page's ``<html lang>``, else detected). Its
  pages are a few hundred news pages of late 2019, some on one story (several NASA, WeWork
  or Hong Kong reports), in 8 languages. Its non-English pages are on unrelated subjects
  (a diet, a video game's cheat codes, a music group, NASCAR standings...): counted is how
  many of them end in a story with another page, and the English pages' stories are listed
  by size (the change should leave them as they were);
- the stories file (the same-story target): all its 321 articles grouped, texts as the
  file gives them, the first ten words as the title as in ``benchmarks/story_pipeline.py``,
  in 5 publication orders; scored on its scored pairs: pair F1 and different pairs merged.

Writes benchmarks/results/story_languages.json (ids, languages and counts; no text).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks._results import save
from benchmarks.story_signal import DIFFERENT, FILE, SAME
from transforms._stories import _WORD, DocumentFrequencies, StoryConfig, StoryIndex, StoryProfile, profile, titled_text
from transforms.extract_articles import _language

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "story_languages.json"
VARIANTS = ("none", "non_english", "english_voice", "all")
SEEDS = (13, 14, 15, 16, 17)


def _english_stop_words() -> frozenset:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.casefold() for w in STOP_WORDS)


def profile_as(variant: str, article_id: str, published: str, title: str, text: str,
               language: str | None) -> StoryProfile:
    """The article's profile as ``variant`` takes it, through newsbeam's own ``profile``
    (``english_voice`` is newsbeam's; ``none`` gives it no language; ``non_english`` gives an
    English article no language, so it keeps its pronouns; ``all`` takes English stop
    words out of an English article's text first)."""
    if variant == "none":
        return profile(article_id, published, "outlet", title, text)
    is_english = (language or "en").split("-")[0] == "en"
    if variant == "non_english" and is_english:
        return profile(article_id, published, "outlet", title, text)
    if variant == "all" and is_english:
        stop = _english_stop_words()
        kept = " ".join(w for w in _WORD.findall(titled_text(title, text)) if w.casefold() not in stop)
        return profile(article_id, published, "outlet", None, kept)._replace(title=title)
    return profile(article_id, published, "outlet", title, text, language=language)


def _minute(n: int) -> str:
    return f"2020-01-02T{(n // 60) % 24:02d}:{n % 60:02d}:00+00:00"


def group(profiles: list[StoryProfile]) -> dict[str, str]:
    df = DocumentFrequencies()
    for p in profiles:
        df.add(p.terms)
    return StoryIndex(StoryConfig()).assign_all(profiles, df)


def extraction_pages(data: Path) -> list[tuple[str, str, str]]:
    """(page id, language, text) of every extraction-benchmark page with 50 words or more."""
    root = data / "extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for key in sorted(truth):
        text = truth[key].get("articleBody") or ""
        if len(text.split()) < 50:
            continue
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        pages.append((key, _language(html, text) or "unknown", text))
    return pages


def on_extraction(pages: list[tuple[str, str, str]], variant: str) -> dict:
    language = {key: lang for key, lang, _ in pages}
    story = group([profile_as(variant, key, _minute(n), "", text, lang)
                   for n, (key, lang, text) in enumerate(pages)])
    members = defaultdict(list)
    for key, story_id in story.items():
        members[story_id].append(key)
    shared = [m for m in members.values() if len(m) > 1]
    foreign = [k for k in language if not language[k].startswith("en")]
    return {
        "pages": len(pages),
        "stories": len(members),
        "non_english_pages": len(foreign),
        "non_english_pages_in_a_shared_story": sum(1 for m in shared for k in m if k in foreign),
        "shared_stories_with_non_english": sorted(
            ([language[k] for k in sorted(m)] for m in shared if any(k in foreign for k in m)),
            key=lambda g: (-len(g), g)),
        "english_shared_story_sizes": sorted((len(m) for m in shared if not any(k in foreign for k in m)),
                                             reverse=True),
    }


def on_stories_file(data: Path, variant: str) -> dict:
    import py3langid

    from benchmarks.story_pipeline import read_rows

    rows = read_rows(data)
    texts = {}  # every article of the file, as the pipeline benchmark serves them all
    for row in rows:
        first, second = row["pair_id"].split("_")
        texts[first], texts[second] = row["text1"], row["text2"]
    rows = [r for r in rows if not SAME < float(r["Overall"]) < DIFFERENT]
    language = {a: py3langid.classify(t[:5000])[0] for a, t in texts.items()}
    f1, merged = [], []
    for seed in SEEDS:
        order = sorted(texts)
        random.Random(seed).shuffle(order)
        story = group([profile_as(variant, a, _minute(n), " ".join(texts[a].split()[:10]),
                                  " ".join(texts[a].split()[10:]), language[a]) for n, a in enumerate(order)])
        tp = fp = fn = 0
        for row in rows:
            first, second = row["pair_id"].split("_")
            same = story[first] == story[second]
            if float(row["Overall"]) <= SAME:
                tp, fn = tp + same, fn + (not same)
            else:
                fp += same
        f1.append(round(2 * tp / (2 * tp + fp + fn), 3))
        merged.append(fp)
    return {"orders": len(SEEDS), "f1": f1, "merged_different": merged,
            "languages": dict(Counter(language.values()).most_common())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story_languages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "extraction-benchmark").is_dir() or not (data / FILE).is_file():
        parser.error(f"needs {data / 'extraction-benchmark'} and {data / FILE}")
    pages = extraction_pages(data)
    result = {"benchmark": "story_languages", "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "extraction_languages": dict(Counter(lang for _, lang, _ in pages).most_common()),
              "variants": {}}
    for variant in VARIANTS:
        result["variants"][variant] = {"extraction_benchmark": on_extraction(pages, variant),
                                       "stories_file": on_stories_file(data, variant)}
        print(variant, json.dumps(result["variants"][variant]))
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
