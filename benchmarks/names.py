"""Entity-key benchmark: do spellings of one person share a key, and different people not?

The labelled list is ``benchmarks/data/person_names.tsv`` (written for this project: one
person per line, the spellings seen in news text). Variant pairs are any two spellings on
one line; non-variant pairs are two spellings of different people that share a word (the
hard cases: "Ali Ayoub" / "Ali Shamkhani", "Kim Jong-un" / "Kim Jong-il"). Each pair is
keyed as one inference batch would (``name_key`` + ``split_conflicting_middles``).
A pair is predicted "same" when the two keys are equal.

    python -m benchmarks.names

Prints precision and recall of "same" and writes benchmarks/results/names.json.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "person_names.tsv"
RESULTS = HERE / "results" / "names.json"


def people(path: Path = DATA) -> list[list[str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return [[name.strip() for name in line.split("\t") if name.strip()] for line in lines]


def pairs(persons: list[list[str]]) -> list[tuple[str, str, bool]]:
    from transforms._entity_keys import words

    persons = [list(dict.fromkeys(names)) for names in persons]  # each spelling once
    out = [(a, b, True) for names in persons for a, b in itertools.combinations(names, 2)]
    for xs, ys in itertools.combinations(persons, 2):
        for a, b in itertools.product(xs, ys):
            if set(words(a, "PERSON")) & set(words(b, "PERSON")):
                out.append((a, b, False))
    return out


def keyed_same(a: str, b: str) -> bool:
    from schemas.elements import Entity
    from transforms._entity_keys import name_key, split_conflicting_middles

    batch = [[Entity(a, "PERSON", 0, len(a), name_key(a, "PERSON"))],
             [Entity(b, "PERSON", 0, len(b), name_key(b, "PERSON"))]]
    (ea,), (eb,) = split_conflicting_middles(batch)
    return ea.key == eb.key


def main() -> dict:
    labelled = pairs(people())
    predicted = [(a, b, truth, keyed_same(a, b)) for a, b, truth in labelled]
    tp = sum(t and p for _, _, t, p in predicted)
    fp = [(a, b) for a, b, t, p in predicted if p and not t]
    fn = [(a, b) for a, b, t, p in predicted if t and not p]
    result = {
        "pairs": len(labelled), "variant_pairs": sum(t for *_, t in labelled),
        "non_variant_pairs": sum(not t for *_, t in labelled),
        "precision": round(tp / (tp + len(fp)), 4) if tp + len(fp) else None,
        "recall": round(tp / (tp + len(fn)), 4) if tp + len(fn) else None,
        "targets": {"precision": 0.98, "recall": 0.90},
        "false_merges": fp, "missed_variants": fn,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"{result['pairs']} pairs ({result['variant_pairs']} variant, {result['non_variant_pairs']} not): "
          f"precision {result['precision']}, recall {result['recall']} (targets 0.98 / 0.90)")
    print(f"false merges: {fp}")
    print(f"missed variants ({len(fn)}): {fn[:12]}{' ...' if len(fn) > 12 else ''}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
