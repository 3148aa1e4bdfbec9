"""One key per real-world name: the normalisation behind ``Entity.key``.

For every mention:

1. Noise is cleaned: a leading "the", a trailing possessive ('s, ’s) and surrounding
   punctuation are cut (offsets follow); PERSON/ORG/GPE mentions without a letter
   (only digits or punctuation) are dropped.
2. The text is split into words. Apostrophes inside a word vanish ("Khamene'i"); a hyphen
   or space followed by a lower-case syllable joins it to the word before, the East Asian
   given-name habit ("Jong-un", "Ke-qiang", "Ki moon"), unless that syllable is a name
   particle ("da", "bin", "van"); name particles al-/el-/ul- are dropped.
3. Each word is folded to how it sounds, with general transliteration rules only (no
   per-name lists): case and diacritics go, letters without a decomposition are spelled
   out (ł, ø, ß, æ...); consonant spellings that different romanisation systems use for one
   sound are merged (tsch/ch/kh -> h, sch -> sh, zh/dj/j -> y, gh -> q, ph -> f, w -> v,
   x -> ks, ts/tz -> z, ck -> k, final -ow -> -ov); vowel digraphs are reduced (ou/oo -> u,
   ee/ei/ey/ie/ai/ay -> i, oe/ue/ae -> o/u/a, ow before a consonant -> u); doubled letters
   become single. Then vowels are folded by word length: in words of fewer than six letters
   e -> i, o -> u and a stays ("Hasan" vs "Hisan" stay apart, "Qasem" = "Qasim"); in words
   of six letters or more, which carry enough consonants to tell names apart, the front
   vowels (a, e, i, y) are one class, written "a", and the back vowels (o, u) another ("Muhammad" = "Mohammed",
   "Haidar" = "Haider", "Gorbachev" != "Gorbachov" stays a known miss).
4. PERSON names of two or more words are keyed by their first and last word, so middle
   names do not split a person ("Imad Mohammad Deeb Khamis" = "Imad Khamis"); a
   generational suffix (Jr., Junior, Sr., II...) stays part of the key. A one-word PERSON
   mention takes the key of the unique longer name in the same article whose last word
   (else any word) it is ("Khamis" -> "Imad Khamis"); with no such unique name it keeps
   its own key.

Across all the articles of a run (``resolution`` over every PERSON mention text of the
run, then ``resolve`` per article; the same result whatever the runner's bundling):

5. Middle names merge only when nothing conflicts: if one first+last pair appears with two
   middle parts that disagree ("George W. Bush" and "George H. W. Bush"), the people with a
   middle part are keyed by first word, middle initials and last word. Middle parts agree
   when they have as many words and each word equals the other or is its initial
   ("George W. Bush" = "George Walker Bush", "Donald J. Trump" = "Donald John Trump").
6. A name that extends another name of the run by trailing words ("Fidel Castro Ruz",
   "Mohammed bin Zayed Al Nahyan") or, failing that, by leading words ("Mohammad Javad
   Zarif", "Mian Nawaz Sharif") takes the key of the longest such shorter name, unless
   two different names extend it ("Kim Jong" would not absorb both "Kim Jong Un" and "Kim
   Jong Il").
7. Names that differ only in word spacing ("Kim Jong Un", "Kim Jongun") take the key of
   the variant with the fewest words.
8. A one-word PERSON mention that its own article did not resolve takes the key of the one
   name of the run that ends with that word ("Jahangiri" in one report, "Eshaq
   Jahangiri" in another); if several people of the run share that last name it stays.

Keys are ``LABEL:folded words``, so different labels never merge, and different people
sharing a first name keep different keys ("Ali Ayoub" vs "Ali Shamkhani"). Rules 5-8 see
one run, so a variant whose partner appears only in another run's articles keeps its own
key; ``benchmarks/names.py`` measures the rules on a labelled list of name variants.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable, NamedTuple, Optional

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_APOSTROPHES = re.compile(r"(?<=\w)['’ʼʻ`](?=\w)")
# A hyphen or space and then a lower-case syllable: joined to the word before ("Jong-un").
_JOINED_SYLLABLE = re.compile(r"(?<=[^\W\d_])[-‐ ](?=(\w+))")
_DOUBLE = re.compile(r"(.)\1+")
_PARTICLES = {"al", "el", "ul"}
_KEPT_PARTICLES = {"da", "das", "de", "del", "der", "des", "di", "do", "dos", "du", "la", "le", "van", "von",
                   "bin", "ibn", "bint", "ben", "abu", "y", "e", "und", "and", "of", "al", "el", "ul"}
_SUFFIXES = {"jr": "jr", "junior": "jr", "sr": "sr", "senior": "sr", "ii": "ii", "iii": "iii", "iv": "iv"}
_SPELLED_OUT = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe",
                              "ß": "ss", "ı": "i", "ħ": "h"})
_CONSONANTS = ((re.compile(r"tsch"), "h"), (re.compile(r"sch"), "sh"), (re.compile(r"[kc]h"), "h"),
               (re.compile(r"d?zh|dj"), "y"), (re.compile(r"j"), "y"), (re.compile(r"gh"), "q"),
               (re.compile(r"ph"), "f"), (re.compile(r"ow$"), "ov"), (re.compile(r"ow(?=[^aeiouy])"), "u"),
               (re.compile(r"w"), "v"), (re.compile(r"x"), "ks"), (re.compile(r"t[sz]"), "z"),
               (re.compile(r"ck"), "k"), (re.compile(r"(?<=.{3})[eo]v$"), "ov"), (re.compile(r"^ye"), "e"),
               (re.compile(r"dh"), "d"))
_VOWEL_GROUPS = ((re.compile(r"(?<=..)[ae]h$"), "a"), (re.compile(r"iy(?=[aeiou])|yi$|yy$"), "i"),
                 (re.compile(r"ou|oo"), "u"), (re.compile(r"ee|ei|ie|ai|[ae]y(?![aeiou])"), "i"),
                 (re.compile(r"oe"), "o"), (re.compile(r"ue"), "u"), (re.compile(r"ae"), "a"),
                 (re.compile(r"y(?![aeiou])"), "i"))
_SHORT_VOWELS = str.maketrans({"e": "i", "o": "u"})
_LONG_VOWELS = str.maketrans({"e": "a", "i": "a", "o": "u"})
_LONG_WORD = 6
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


# Names recur across a run's articles, and folding one word takes a dozen regex passes:
# before this cache it was about 8% of the SDK workers' samples holding the GIL in one py-spy
# profile of a cores-corpus run (not a results file).
@lru_cache(maxsize=1 << 16)
def fold_word(word: str) -> str:
    """A casefolded, diacritic-free word as it sounds (rule 3 of the module docstring)."""
    if word in _SUFFIXES:
        return _SUFFIXES[word]
    for pattern, replacement in _CONSONANTS:
        word = pattern.sub(replacement, word)
    if len(word) == 1:  # an initial: "J." must match "John"
        return word
    word = _DOUBLE.sub(r"\1", word)
    long = len(word) >= _LONG_WORD
    for pattern, replacement in _VOWEL_GROUPS:
        word = pattern.sub(replacement, word)
    word = word.translate(_LONG_VOWELS if long else _SHORT_VOWELS)
    return _DOUBLE.sub(r"\1", word)


def _join_syllables(text: str) -> str:
    """Joins a lower-case syllable to the word before ("Jong-un" -> "Jongun"), not particles."""
    if text == text.lower() or text == text.upper():
        return text

    def join(match: re.Match) -> str:
        following = match.group(1)
        lower = following[:1].islower()
        return "" if lower and following.lower() not in _KEPT_PARTICLES else match.group(0)

    return _JOINED_SYLLABLE.sub(join, text)


@lru_cache(maxsize=1 << 16)
def _tokens(text: str, label: str) -> tuple[str, ...]:
    """The casefolded, diacritic-free words of a mention, particles dropped (rule 2).
    Cached like ``fold_word``, so it returns a tuple."""
    if label in _NAME_LABELS:
        text = _join_syllables(_APOSTROPHES.sub("", text))
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_SPELLED_OUT))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    tokens = _NON_WORD.sub(" ", plain).split()
    if label not in _NAME_LABELS:
        return tuple(tokens)
    tokens = [t for t in tokens if t not in _PARTICLES] or tokens
    return tuple(_join_abd(tokens))


_ABD = re.compile(r"^abd[aeiou]l(?=[^l]|$)")


def _join_abd(tokens: list[str]) -> list[str]:
    """Arabic "Abd al-X" compounds as one word, however spelled: "Abd al-Aziz", "Abdelaziz",
    "Abdul Aziz" and "Abdulaziz" all become "abdaziz" (not "Abdullah": "Abd Allah")."""
    out: list[str] = []
    for token in tokens:
        token = _ABD.sub("abd", token)
        if out and out[-1] == "abd":
            out[-1] += token
        else:
            out.append(token)
    return out


def words(text: str, label: str) -> list[str]:
    """The folded words of a mention (rules 2 and 3)."""
    tokens = _tokens(text, label)
    return [fold_word(t) for t in tokens] if label in _NAME_LABELS else list(tokens)


class _Name(NamedTuple):
    """A PERSON name's folded words: given name, middle words, last name, generational suffix."""

    words: tuple
    suffix: str
    spaceless: str  # all words as one, folded: "Kim Jong Un" and "Kim Jongun" agree

    @classmethod
    def of(cls, text: str) -> "_Name":
        raw = _tokens(text, "PERSON")
        tokens = [fold_word(t) for t in raw]
        suffix = ""
        if len(tokens) > 2 and tokens[-1] in _SUFFIX_KEYS:
            raw, tokens, suffix = raw[:-1], tokens[:-1], tokens[-1]
        return cls(tuple(tokens), suffix, fold_word("".join(raw)))

    def key(self, middle: tuple = ()) -> str:
        parts = (self.words[0], *middle, self.words[-1]) if len(self.words) > 1 else self.words
        return "PERSON:" + " ".join(parts + ((self.suffix,) if self.suffix else ()))

    @property
    def middle(self) -> tuple:
        return self.words[1:-1]


_SUFFIX_KEYS = set(_SUFFIXES.values())


def name_key(text: str, label: str) -> str:
    """The key of a mention on its own (no article or batch context)."""
    if label == "PERSON":
        return _Name.of(text).key()
    return f"{label}:{' '.join(words(text, label))}"


def article_keys(mentions: list[Mention]) -> list[str]:
    """Keys for the mentions of one article, resolving one-word PERSON mentions to the
    unique longer name they belong to."""
    names = [_Name.of(m.text) if m.label == "PERSON" else None for m in mentions]
    keys = [name.key() if name else name_key(m.text, m.label) for m, name in zip(mentions, names)]
    people = {key: name.words for key, name in zip(keys, names) if name and len(name.words) >= 2}
    for i, name in enumerate(names):
        if name is None or len(name.words) != 1 or name.suffix:
            continue
        by_last = {k for k, t in people.items() if t[-1] == name.words[0]}
        by_any = {k for k, t in people.items() if name.words[0] in t}
        match = by_last if len(by_last) == 1 else by_any if len(by_any) == 1 else set()
        if match:
            keys[i] = next(iter(match))
    return keys


def _agree(a: tuple, b: tuple) -> bool:
    """Middle parts agree: as many words, each equal or the other's initial."""
    return len(a) == len(b) and all(x == y or (min(len(x), len(y)) == 1 and x[0] == y[0]) for x, y in zip(a, b))


def _extended(names: set) -> dict:
    """Rule 6: names with extra trailing (else leading) words -> the longest shorter name of
    the run they extend."""
    by_words = {n.words: n for n in names if not n.suffix}
    extends: dict = {}
    for name in by_words.values():
        shorter = [name.words[:cut] for cut in range(len(name.words) - 1, 1, -1)]
        shorter += [name.words[-cut:] for cut in range(len(name.words) - 1, 1, -1)]
        found = next((w for w in shorter if w in by_words and len(w[0]) > 1), None)
        if found:
            extends[name] = by_words[found]
    extenders: dict = {}
    for name, base in extends.items():
        extenders.setdefault(base, set()).add(name.words)
    return {name: base for name, base in extends.items() if len(extenders[base]) == 1}


def _middle_keys(names: set) -> dict:
    """Rule 5: names whose first+last key is shared by disagreeing middles -> key with initials."""
    middles: dict = {}
    for name in names:
        if name.middle:
            middles.setdefault(name.key(), set()).add(name.middle)
    conflicting = {key for key, seen in middles.items()
                   if any(not _agree(a, b) for a in seen for b in seen)}
    return {name: name.key(tuple(w[0] for w in name.middle)) for name in names
            if name.middle and name.key() in conflicting}


class Resolution(NamedTuple):
    """What rules 5-8 decided for the PERSON names of a run: name -> key, surname -> key."""

    keys: dict
    surnames: dict


def resolution(texts: Iterable[str]) -> Resolution:
    """Rules 5-8 over the PERSON mention texts of a whole run (or of any set of articles)."""
    names = {n for n in map(_Name.of, texts) if len(n.words) >= 2}
    keys = {n: n.key() for n in names}
    for name, base in _extended(names).items():
        keys[name] = base.key()
    keys.update(_middle_keys({n for n in names if keys[n] == n.key()}))
    spaced: dict = {}
    for name in names:
        spaced.setdefault((name.spaceless, name.suffix), []).append(name)
    for variants in spaced.values():
        fewest = min(variants, key=lambda n: (len(n.words), keys[n]))
        for name in variants:
            keys[name] = keys[fewest]
    by_surname: dict = {}
    for name in names:
        by_surname.setdefault(name.words[-1], set()).add(keys[name])
    surnames = {word: next(iter(found)) for word, found in by_surname.items() if len(found) == 1}
    return Resolution(keys, surnames)


def resolve(entities: list, decided: Resolution) -> list:
    """One article's entities (anything with text, label, key and ``_replace``, keyed by
    ``article_keys``) with the PERSON keys that ``decided`` gives them."""
    keys = decided.keys
    names = [_Name.of(e.text) if e.label == "PERSON" else None for e in entities]
    # Within an article, a name's own key and the aliases resolved to it move together.
    moved: dict = {}
    for name in names:
        if name in keys:
            moved.setdefault(name.key(), set()).add(keys[name])
    moved = {old: next(iter(new)) for old, new in moved.items() if len(new) == 1}
    fixed = []
    for e, name in zip(entities, names):
        if name in keys and e.key == name.key():
            e = e._replace(key=keys[name])
        elif name is not None and e.key in moved:  # a short alias follows its full name
            e = e._replace(key=moved[e.key])
        elif (name is not None and len(name.words) == 1 and not name.suffix and e.key == name.key()
              and name.words[0] in decided.surnames):  # rule 8: a surname alone
            e = e._replace(key=decided.surnames[name.words[0]])
        fixed.append(e)
    return fixed


def resolve_batch(batches: list[list]) -> list[list]:
    """The entities of several articles, resolved together (rules 5-8)."""
    decided = resolution(e.text for entities in batches for e in entities if e.label == "PERSON")
    return [resolve(entities, decided) for entities in batches]
