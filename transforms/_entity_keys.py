"""One key per real-world name: the normalisation behind ``Entity.key``.

For every mention:

1. Noise is cleaned: a leading "the", a trailing possessive ('s, ’s) and surrounding
   punctuation are cut (offsets follow); PERSON/ORG/GPE mentions without a letter
   (only digits or punctuation) are dropped.
2. The text is folded: case, diacritics and punctuation go; name particles
   (al-, el-, ul-) are dropped; in each word, doubled letters are single and the
   common transliteration vowel variants are merged (ou, oo -> u; ee, ei, ey, ie -> i;
   then o -> u and e -> i): Muallem/Moallem, Qasem/Qassem, Ayoub/Ayyoub all fold alike.
3. PERSON names of two or more words are keyed by their first and last word, so middle
   names do not split a person ("Imad Mohammad Deeb Khamis" = "Imad Khamis"), and a
   one-word PERSON mention takes the key of the unique longer name in the same article
   whose last word (else any word) it is ("Khamis" -> "Imad Khamis"); with no such
   unique name it keeps its own key.

4. Across the articles of one inference batch, if one first+last pair appears with two
   different middle parts ("George W. Bush" and "George H. W. Bush"), the names with a
   middle part keep their full folded name as key: middle names merge only when nothing
   in the batch conflicts (``split_conflicting_middles``).

Keys are ``LABEL:folded words``, so different labels never merge, and different people
sharing a first name keep different keys ("Ali Ayoub" vs "Ali Shamkhani").
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple, Optional

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DOUBLE = re.compile(r"(.)\1+")
_PARTICLES = {"al", "el", "ul"}
_VOWEL_GROUPS = (("ou", "u"), ("oo", "u"), ("ee", "i"), ("ei", "i"), ("ey", "i"), ("ie", "i"))
_NAME_LABELS = {"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC"}
_NEEDS_LETTER = {"PERSON", "ORG", "GPE"}
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")


class Mention(NamedTuple):
    text: str
    label: str
    start: int
    end: int


def clean(mention: Mention) -> Optional[Mention]:
    """The mention without a leading "the", a trailing possessive or edge punctuation; None if noise."""
    text, start, end = mention.text, mention.start, mention.end
    lead = _LEADING_THE.match(text)
    if lead and mention.label in _NAME_LABELS:
        text, start = text[lead.end():], start + lead.end()
    trail = _POSSESSIVE.search(text)
    if trail and mention.label in _NAME_LABELS:
        text, end = text[: trail.start()], end - (len(text) - trail.start())
    stripped = text.strip(" \t\n.,;:!?\"'“”‘’()[]-–—")
    start += text.find(stripped) if stripped else 0
    end = start + len(stripped)
    if not stripped or (mention.label in _NEEDS_LETTER and not any(c.isalpha() for c in stripped)):
        return None
    return Mention(stripped, mention.label, start, end)


def fold_word(word: str) -> str:
    word = _DOUBLE.sub(r"\1", word)
    for group, single in _VOWEL_GROUPS:
        word = word.replace(group, single)
    return word.replace("o", "u").replace("e", "i")


def words(text: str, label: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    tokens = _NON_WORD.sub(" ", plain).split()
    if label not in _NAME_LABELS:
        return tokens
    kept = [t for t in tokens if t not in _PARTICLES] or tokens
    return [fold_word(t) for t in kept]


def name_key(text: str, label: str) -> str:
    """The key of a mention on its own (no article context)."""
    tokens = words(text, label)
    if label == "PERSON" and len(tokens) > 2:
        tokens = [tokens[0], tokens[-1]]
    return f"{label}:{' '.join(tokens)}"


def article_keys(mentions: list[Mention]) -> list[str]:
    """Keys for the mentions of one article, resolving one-word PERSON mentions to the
    unique longer name they belong to."""
    keys = [name_key(m.text, m.label) for m in mentions]
    people = {}
    for m, key in zip(mentions, keys):
        tokens = words(m.text, "PERSON") if m.label == "PERSON" else []
        if len(tokens) >= 2:
            people[key] = tokens
    for i, m in enumerate(mentions):
        if m.label != "PERSON":
            continue
        tokens = words(m.text, "PERSON")
        if len(tokens) != 1:
            continue
        by_last = {k for k, t in people.items() if t[-1] == tokens[0]}
        by_any = {k for k, t in people.items() if tokens[0] in t}
        match = by_last if len(by_last) == 1 else by_any if len(by_any) == 1 else set()
        if match:
            keys[i] = next(iter(match))
    return keys


def split_conflicting_middles(batches: list[list]) -> list[list]:
    """Entities (anything with text, label, key and ``_replace``) of a batch of articles,
    with full-name keys for people whose first+last key has conflicting middle parts."""
    middles: dict[str, set] = {}
    for entities in batches:
        for e in entities:
            tokens = words(e.text, "PERSON") if e.label == "PERSON" else []
            if len(tokens) > 2:
                middles.setdefault(e.key, set()).add(tuple(tokens[1:-1]))
    conflicting = {key for key, seen in middles.items() if len(seen) > 1}
    if not conflicting:
        return batches
    out = []
    for entities in batches:
        fixed = []
        for e in entities:
            tokens = words(e.text, "PERSON") if e.label == "PERSON" and e.key in conflicting else []
            fixed.append(e._replace(key=f"PERSON:{' '.join(tokens)}") if len(tokens) > 2 else e)
        out.append(fixed)
    return out
