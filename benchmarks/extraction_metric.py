"""The article-extraction-benchmark metric, written from its README's description.

Both texts are tokenised with ``\\w+`` (no lower-casing) and cut into 4-word shingles,
counted as multisets (fewer than 4 tokens: one shingle of them all; no tokens: none).
Per document TP = sum of min(true, predicted) counts, FP = the excess predicted, FN =
the excess true. Precision and recall per document, with the benchmark's special cases;
the corpus figures are the means over documents (documents with TP+FP = 0 are left out
of the precision mean, with TP+FN = 0 out of the recall mean), and F1 is computed from
those two means, not averaged per document.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Mapping, NamedTuple

_TOKEN = re.compile(r"\w+")


def shingles(text: str, k: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < k:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1))


def counts(truth: str, prediction: str) -> tuple[int, int, int]:
    t, p = shingles(truth), shingles(prediction)
    tp = sum(min(n, p[s]) for s, n in t.items())
    fp = sum(max(0, n - t[s]) for s, n in p.items())
    fn = sum(max(0, n - p[s]) for s, n in t.items())
    return tp, fp, fn


def precision_recall(tp: float, fp: float, fn: float) -> tuple[float, float]:
    if fp == fn == 0:
        return 1.0, 1.0
    precision = 0.0 if tp == fp == 0 else tp / (tp + fp)
    recall = 0.0 if tp == fn == 0 else tp / (tp + fn)
    return precision, recall


class Score(NamedTuple):
    f1: float
    precision: float
    recall: float
    accuracy: float
    documents: int


def score(truths: Mapping[str, str], predictions: Mapping[str, str], keys=None) -> Score:
    """Scores ``predictions`` (id -> text; missing ids count as empty) against ``truths``."""
    keys = list(keys if keys is not None else truths)
    precisions, recalls, exact = [], [], 0
    for key in keys:
        truth, pred = truths[key], predictions.get(key) or ""
        tp, fp, fn = counts(truth, pred)
        total = tp + fp + fn
        if total:
            tp, fp, fn = tp / total, fp / total, fn / total
        p, r = precision_recall(tp, fp, fn)
        if tp + fp > 0:
            precisions.append(p)
        if tp + fn > 0:
            recalls.append(r)
        exact += _TOKEN.findall(truth) == _TOKEN.findall(pred)
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(f1, precision, recall, exact / len(keys) if keys else 0.0, len(keys))


def bootstrap_f1_std(truths: Mapping[str, str], predictions: Mapping[str, str], n: int = 1000,
                     seed: int = 0) -> float:
    """Standard deviation of F1 over ``n`` resamples of the documents with replacement."""
    rng = random.Random(seed)
    keys = list(truths)
    values = [score(truths, predictions, [rng.choice(keys) for _ in keys]).f1 for _ in range(n)]
    mean = sum(values) / n
    return (sum((v - mean) ** 2 for v in values) / n) ** 0.5
