"""Near-duplicate building blocks: word shingles, MinHash signatures (rensa), LSH bands.

Parameters (DedupConfig defaults) and what they promise. Shingles are word 3-grams of
the case-folded text (3, not 5: a copy-edit of one word breaks k shingles, and wire
copies carry 2-5% edits). A signature has 100 MinHash values, cut into 20 bands of 5
rows; two documents share at least one band key, and become a candidate pair, with
probability P(s) = 1 - (1 - s^5)^20 for shingle Jaccard s:

    s      0.1      0.3     0.5    0.7    0.8      0.9
    P(s)   0.0002   0.047   0.47   0.975  0.9996   1.0000

So a copy at the 0.8 threshold is missed by the banding about 4 times in 10,000, and a
pair of unrelated same-topic articles (s around 0.1) becomes a candidate about twice in
10,000; every candidate is then verified (exact shingle Jaccard between articles of
this run; signature agreement, standard error about 0.04, against the index of earlier
runs, whose texts are not kept).

MinHash library: rensa, measured against datasketch on the extraction benchmark's 181
ground-truth texts (benchmarks/dedup.py prints it): 20-70x more signatures per
second (26x in the committed benchmarks/results/dedup.json), and stable across
processes (it does not use Python's salted ``hash``).
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Iterable, Sequence

import apache_beam as beam

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DedupConfig:
    """Args:
    threshold: shingle Jaccard at or above which two articles are copies.
    shingle_size: words per shingle.
    num_perm: MinHash values per signature (= bands * rows).
    bands / rows: the LSH banding of the signature.
    seed: MinHash seed; changing it invalidates the stored index.
    max_bucket: a band bucket with more members is a hot key (boilerplate-only texts):
        it links each member to the bucket's first member only, instead of all pairs.
    window_days: how long an article stays in the cross-run index.
    """

    threshold: float = 0.8
    shingle_size: int = 3
    num_perm: int = 100
    bands: int = 20
    rows: int = 5
    seed: int = 1
    max_bucket: int = 200
    window_days: int = 30

    def __post_init__(self):
        if self.bands * self.rows != self.num_perm:
            raise ValueError(f"bands x rows must equal num_perm ({self.bands}x{self.rows} != {self.num_perm})")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")


def shingles(text: str, k: int) -> set[str]:
    """The set of k-word shingles of the case-folded text (a shorter text: one shingle)."""
    words = _WORD.findall(text.casefold())
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def signature(shingle_set: set[str], cfg: DedupConfig) -> list[int]:
    import rensa

    minhash = rensa.RMinHash(num_perm=cfg.num_perm, seed=cfg.seed)
    minhash.update(sorted(shingle_set))
    return [int(v) for v in minhash.digest()]


def band_keys(sig: Sequence[int], cfg: DedupConfig) -> list[str]:
    """One key per band: the band's index and a hash of its rows."""
    keys = []
    for band in range(cfg.bands):
        rows = sig[band * cfg.rows:(band + 1) * cfg.rows]
        digest = hashlib.blake2b(struct.pack(f"<{cfg.rows}I", *rows), digest_size=8).hexdigest()
        keys.append(f"{band}:{digest}")
    return keys


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def estimated_similarity(sig_a: Sequence[int], sig_b: Sequence[int]) -> float:
    """The share of equal MinHash values: an unbiased estimate of the shingle Jaccard."""
    return sum(x == y for x, y in zip(sig_a, sig_b)) / len(sig_a)


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """The LSH S-curve: probability that two documents of Jaccard ``s`` share a band."""
    return 1.0 - (1.0 - s ** rows) ** bands


def _find(parent: dict[str, str], x: str) -> str:
    parent.setdefault(x, x)
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _union(parent: dict[str, str], a: str, b: str) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def components(edges: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Connected components by union-find: node -> smallest node of its component."""
    parent: dict[str, str] = {}
    for a, b in edges:
        _union(parent, a, b)
    return {node: _find(parent, node) for node in parent}


class ComponentsFn(beam.CombineFn):
    """Edges -> {node: smallest node of its component}, as a combiner: each worker builds a
    union-find forest of its own edges and the forests are merged, so no single worker
    receives every edge."""

    def create_accumulator(self) -> dict[str, str]:
        return {}

    def add_input(self, parent: dict[str, str], edge: tuple[str, str]) -> dict[str, str]:
        _union(parent, *edge)
        return parent

    def merge_accumulators(self, forests: Iterable[dict[str, str]]) -> dict[str, str]:
        forests = iter(forests)
        merged = next(forests, {})
        for forest in forests:
            for node, parent_node in forest.items():
                _union(merged, node, parent_node)
        return merged

    def compact(self, parent: dict[str, str]) -> dict[str, str]:
        return {node: _find(parent, node) for node in parent}

    def extract_output(self, parent: dict[str, str]) -> dict[str, str]:
        return self.compact(parent)
