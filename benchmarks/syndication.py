"""A syndication corpus: real article texts and the copies outlets make of them.

Bases are the human-written article bodies of the extraction benchmark (at least
``min_words`` words). Each base yields its original plus one copy per edit type, every
document embedded in one of several outlet page templates:

    dateline      an agency dateline added ("BEIRUT (Reuters) - ") or an existing first line removed
    boilerplate   outlet lines appended ("Read more", newsletter, copyright)
    cut_end       the last one to three paragraphs cut
    local_para    a local paragraph inserted
    copy_edit     2-5% of the words changed
    headline      the headline rewritten (the text is unchanged)
    combined      dateline + boilerplate + copy edits together

and distinct same-topic articles that must not merge: the base's first paragraph (the
topic) followed by one paragraph from each of several other bases (so the document
shares its lede with the base but is a copy of nothing). Everything is seeded: the corpus is the same
on every run.
"""

from __future__ import annotations

import html
import random
from typing import NamedTuple

EDITS = ("dateline", "boilerplate", "cut_end", "local_para", "copy_edit", "headline", "combined")
AGENCIES = ("Reuters", "AP", "AFP", "dpa", "Wire Digest")
CITIES = ("BEIRUT", "NAIROBI", "LIMA", "OSLO", "MANILA", "ACCRA", "QUITO")
BOILERPLATE = ("Read more: the latest news from our region.", "Sign up for our daily newsletter.",
               "© 2020 All rights reserved. This article may not be republished.",
               "Follow us on social media for updates.")
LOCAL = ("Local officials said the news would be discussed at the next council meeting on Thursday, "
         "and residents were invited to send their questions to the town hall in advance.")
SWAPS = ("said", "reported", "noted", "stated", "told", "on", "the", "officials", "also", "after")
TEMPLATES = (
    "<html><head><title>{title} | Daily {k}</title><meta property='og:site_name' content='Daily {k}'></head>"
    "<body><nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
    "<main><article><h1>{title}</h1>{body}</article><aside><h2>Most read</h2><ul><li>Markets rally</li>"
    "<li>Storm warning</li></ul></aside></main><footer>Daily {k} - contact - privacy</footer></body></html>",
    "<html><head><title>{title}</title></head><body><header><div class='logo'>The {k} Times</div>"
    "<ul class='menu'><li>News</li><li>Opinion</li><li>Video</li></ul></header><div class='content'>"
    "<h1 class='headline'>{title}</h1><div class='story'>{body}</div></div><div class='related'>Related: "
    "<a href='/x'>Other story</a></div><footer>The {k} Times. All rights reserved.</footer></body></html>",
    "<html><head><title>{title} - Herald {k}</title></head><body><div id='top'>Herald {k} | Subscribe</div>"
    "<div id='main'><h2>{title}</h2><section class='article-body'>{body}</section></div>"
    "<div id='comments'><h3>0 comments</h3></div><div id='bottom'>Herald {k} 2020</div></body></html>",
)


class Doc(NamedTuple):
    doc_id: str
    cluster: str  # documents of one cluster are copies of one base
    edit: str  # "original", an edit type, or "same_topic"
    title: str
    paragraphs: list


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def _edit(kind: str, paras: list[str], rng: random.Random) -> list[str]:
    paras = list(paras)
    if kind in ("dateline", "combined"):
        if rng.random() < 0.7 or len(paras) < 3:
            paras[0] = f"{rng.choice(CITIES)} ({rng.choice(AGENCIES)}) - {paras[0]}"
        else:
            paras = paras[1:]
    if kind in ("boilerplate", "combined"):
        paras += rng.sample(BOILERPLATE, rng.randint(1, 3))
    if kind == "cut_end" and len(paras) > 4:
        paras = paras[: -rng.randint(1, min(3, len(paras) - 3))]
    if kind == "local_para":
        paras.insert(rng.randint(1, len(paras)), LOCAL)
    if kind in ("copy_edit", "combined"):
        words = " ".join(paras).split(" ")
        for i in rng.sample(range(len(words)), int(len(words) * rng.uniform(0.02, 0.05))):
            words[i] = rng.choice(SWAPS)
        # keep paragraph breaks approximately: re-split evenly
        size = max(1, len(words) // max(1, len(paras)))
        paras = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return paras


def corpus(bases: dict[str, str], min_words: int = 150, seed: int = 7, copies_per_edit: int = 1,
           same_topic: int = 2) -> list[Doc]:
    rng = random.Random(seed)
    usable = sorted(k for k, text in bases.items() if len(text.split()) >= min_words and len(paragraphs(text)) >= 4)
    docs: list[Doc] = []
    for n, key in enumerate(usable):
        paras = paragraphs(bases[key])
        title = " ".join(paras[0].split()[:8])
        docs.append(Doc(f"{n}-original", key, "original", title, paras))
        for edit in EDITS:
            for c in range(copies_per_edit):
                new_title = f"{title} (update)" if edit in ("headline", "combined") else title
                docs.append(Doc(f"{n}-{edit}-{c}", key, edit, new_title, _edit(edit, paras, rng)))
        for t in range(same_topic):
            others = [paragraphs(bases[usable[(n + 1 + t * 11 + j * 3) % len(usable)]]) for j in range(6)]
            body = [o[min(1 + t, len(o) - 1)] for o in others]
            docs.append(Doc(f"{n}-same-topic-{t}", f"{key}-topic-{t}", "same_topic", title, [paras[0], *body]))
    return docs


def render(doc: Doc, k: int) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in doc.paragraphs)
    return TEMPLATES[k % len(TEMPLATES)].format(title=html.escape(doc.title), body=body, k=k % 17)
