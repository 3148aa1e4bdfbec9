"""Entity-key benchmark: do spellings of one person share a key, and different people not?

The labelled list is ``benchmarks/data/person_names.tsv`` (written for this project: one
person per line, the spellings seen in news text). Variant pairs are any two spellings on
one line; non-variant pairs are two spellings of different people that share a word (the
hard cases: "Ali Ayoub" / "Ali Shamkhani", "Kim Jong-un" / "Kim Jong-il"). Each pair is
keyed as one inference batch of two articles would (``name_key`` + ``resolve_batch``);
a pair is predicted "same" when the two keys are equal. Scores are printed for the whole
list, for the development part (the lines the rules were written against) and for the
held-out part (lines written after the rules were fixed), and once more with every
spelling in a single batch, where the batch rules see all conflicts at once.

    python -m benchmarks.names

Prints precision and recall of "same" and writes benchmarks/results/names.json.
"""

from __future__ import annotations

import itertools
import re
import time
import unicodedata
from pathlib import Path
from typing import NamedTuple

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "person_names.tsv"
RESULTS = HERE / "results" / "names.json"


HELD_OUT_MARK = "# held out"


class Person(NamedTuple):
    names: list
    held_out: bool  # written after the key rules were fixed; never used to tune them


def people(path: Path = DATA) -> list[Person]:
    out, held_out = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        held_out = held_out or line.startswith(HELD_OUT_MARK)
        if line and not line.startswith("#"):
            names = list(dict.fromkeys(n.strip() for n in line.split("\t") if n.strip()))  # each spelling once
            out.append(Person(names, held_out))
    return out


def plain_words(name: str) -> set[str]:
    """Casefolded words without diacritics: how the labelled pairs are chosen, independent of
    the key algorithm under test."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return set(re.sub(r"[\W_]+", " ", "".join(c for c in decomposed if not unicodedata.combining(c))).split())


class Pair(NamedTuple):
    a: str
    b: str
    same: bool
    held_out: bool


def pairs(persons: list[Person]) -> list[Pair]:
    out = [Pair(a, b, True, p.held_out) for p in persons for a, b in itertools.combinations(p.names, 2)]
    for x, y in itertools.combinations(persons, 2):
        for a, b in itertools.product(x.names, y.names):
            if plain_words(a) & plain_words(b):
                out.append(Pair(a, b, False, x.held_out or y.held_out))
    return out


def _entity(text: str):
    from schemas.elements import Entity
    from transforms._entity_keys import name_key

    return Entity(text, "PERSON", 0, len(text), name_key(text, "PERSON"))


def keyed_same(a: str, b: str) -> bool:
    """Both names keyed in one inference batch of two articles."""
    from transforms._entity_keys import resolve_batch

    (ea,), (eb,) = resolve_batch([[_entity(a)], [_entity(b)]])
    return ea.key == eb.key


def keys_in_one_batch(persons: list[Person]) -> dict:
    """Every spelling of the list as one article each, all in one inference batch: the
    crowded case, where batch rules see every conflict at once."""
    from transforms._entity_keys import resolve_batch

    spellings = sorted({n for p in persons for n in p.names})
    resolved = resolve_batch([[_entity(n)] for n in spellings])
    return {n: entities[0].key for n, entities in zip(spellings, resolved)}


def score(labelled: list[Pair], same) -> dict:
    predicted = [(p, same(p.a, p.b)) for p in labelled]
    tp = sum(p.same and guess for p, guess in predicted)
    fp = [(p.a, p.b) for p, guess in predicted if guess and not p.same]
    fn = [(p.a, p.b) for p, guess in predicted if p.same and not guess]
    return {
        "pairs": len(labelled), "variant_pairs": sum(p.same for p in labelled),
        "non_variant_pairs": sum(not p.same for p in labelled),
        "precision": round(tp / (tp + len(fp)), 4) if tp + len(fp) else None,
        "recall": round(tp / (tp + len(fn)), 4) if tp + len(fn) else None,
        "false_merges": fp, "missed_variants": fn,
    }


def main() -> dict:
    persons = people()
    labelled = pairs(persons)
    one_batch = keys_in_one_batch(persons)
    result = {
        "all": score(labelled, keyed_same),
        "development": score([p for p in labelled if not p.held_out], keyed_same),
        "held_out": score([p for p in labelled if p.held_out], keyed_same),
        "all_in_one_batch": score(labelled, lambda a, b: one_batch[a] == one_batch[b]),
        "targets": {"precision": 0.98, "recall": 0.90},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in ("all", "development", "held_out", "all_in_one_batch"):
        r = result[name]
        print(f"{name:>16}: {r['pairs']} pairs ({r['variant_pairs']} variant, {r['non_variant_pairs']} not): "
              f"precision {r['precision']}, recall {r['recall']}")
    print("targets: precision >= 0.98, recall >= 0.90")
    print(f"false merges: {result['all']['false_merges']}")
    print(f"missed variants: {result['all']['missed_variants']}")
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
