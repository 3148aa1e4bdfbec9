"""Writes samples/site/: the bundled demo site that `make run` ingests offline.

Three outlets, each with its own page template (nav, header, footer, related links):

- Iran Press Daily   RSS 2.0   /iranpress/rss.xml   seed report 000, a second story, a dead link
- Erbil Observer     Atom 1.0  /observer/atom.xml   seed report 002 (same meeting, other spellings)
- Wire Digest        RSS 1.0   /wire/rss.xml        a verbatim re-post of seed 000 under another URL,
                                                    an edited copy of seed 002 (a near-duplicate),
                                                    the Iran Press link again with tracking parameters
- Wire Digest        broken    /wire/broken.xml     a malformed feed

Links are absolute with the placeholder {{BASE}}, which pipeline.loopback replaces with
the server's address. Run `python samples/make_site.py` after editing; the output is
committed so the demo and the tests need nothing but this directory.
"""

from __future__ import annotations

import html
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
SEEDS = HERE / "seeds"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def seed_000() -> list[str]:
    body = (SEEDS / "000_5bbcf8d028a04151.txt").read_text(encoding="utf-8")
    return _paragraphs(body.split("Read More:")[0])


def seed_002() -> tuple[str, list[str]]:
    paras = _paragraphs((SEEDS / "002_09d91b3b86820900.txt").read_text(encoding="utf-8"))
    return paras[0], paras[1:]


OTHER_STORIES = {
    "tram": (
        "City council approves new tram line to the northern districts",
        [
            "The city council on Tuesday approved a twelve-kilometre tram line linking the "
            "central station with the fast-growing northern districts, ending a debate that "
            "had run for more than three years.",
            "The line will have fourteen stops and is expected to carry about forty thousand "
            "passengers a day once it opens. Construction is due to start in the spring and "
            "to take a little under four years, the council's transport committee said.",
            "Residents of the northern districts have long complained that buses are slow and "
            "overcrowded at peak hours. Shop owners along the planned route asked the council "
            "to keep at least one lane open to delivery vans during the works.",
            "The project will be paid for by the city and a loan from a regional development "
            "bank. Opposition members voted against it, arguing that the cost estimate leaves "
            "too little room for the delays that large building projects usually meet.",
        ],
    ),
    "snow": (
        "Heavy snow closes mountain roads and delays flights",
        [
            "Heavy snow fell across the mountain provinces overnight, closing several main "
            "roads and delaying dozens of flights at the regional airport on Wednesday morning.",
            "Road crews worked through the night to clear the passes, but police asked drivers "
            "to stay at home unless their journey was urgent. Trucks were held at checkpoints "
            "on both sides of the highest pass until the wind dropped.",
            "Schools in three districts stayed closed, and the weather service warned that more "
            "snow was likely on Thursday, with temperatures falling well below freezing at night.",
            "Farmers welcomed the snow after an unusually dry autumn, saying the melt in spring "
            "would help to refill reservoirs that had fallen to their lowest level in a decade.",
        ],
    ),
}


TEMPLATES = {
    "iranpress": {
        "name": "Iran Press Daily",
        "nav": ["Home", "Politics", "Economy", "World", "Sport", "Culture"],
        "footer": "© 2020 Iran Press Daily. All rights reserved. | About us | Contact | Privacy policy",
        "related": ["Syrian Prime Minister arrived in Tehran",
                    "Talks held between Iranian and Syrian delegations"],
    },
    "observer": {
        "name": "Erbil Observer",
        "nav": ["News", "Kurdistan", "Iraq", "Middle East", "Opinion", "Video"],
        "footer": "Erbil Observer — independent news from the Kurdistan Region. Subscribe to our newsletter.",
        "related": ["Iraqi parliament votes on foreign troops", "Protests continue in Baghdad"],
    },
    "wire": {
        "name": "Wire Digest",
        "nav": ["Latest", "Top stories", "Regions", "Markets"],
        "footer": "Wire Digest republishes reports from partner agencies. Terms of use apply.",
        "related": ["More from our partners", "Most read today"],
    },
}


def page(outlet: str, path: str, title: str, paras: list[str], published: str,
         author: str | None, canonical: str | None = None) -> str:
    t = TEMPLATES[outlet]
    nav = "\n".join(f'      <li><a href="{{{{BASE}}}}/{outlet}/{n.lower().replace(" ", "-")}/">{n}</a></li>'
                    for n in t["nav"])
    related = "\n".join(f'      <li><a href="{{{{BASE}}}}/{outlet}/related-{i}.html">{html.escape(r)}</a></li>'
                        for i, r in enumerate(t["related"]))
    body = "\n".join(f"      <p>{html.escape(p)}</p>" for p in paras)
    byline = f'<p class="byline">By {html.escape(author)}</p>' if author else ""
    meta_author = f'<meta name="author" content="{html.escape(author)}">' if author else ""
    canonical = canonical or f"{{{{BASE}}}}/{path}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)} | {t['name']}</title>
  <link rel="canonical" href="{canonical}">
  <meta property="og:site_name" content="{t['name']}">
  <meta property="og:title" content="{html.escape(title)}">
  <meta property="article:published_time" content="{published}">
  {meta_author}
</head>
<body>
  <header class="site-header">
    <a class="logo" href="{{{{BASE}}}}/{outlet}/">{t['name']}</a>
    <nav><ul>
{nav}
    </ul></nav>
    <form class="search"><input type="search" placeholder="Search"></form>
  </header>
  <main>
    <article>
      <h1>{html.escape(title)}</h1>
      {byline}
      <time datetime="{published}">{published[:10]}</time>
{body}
    </article>
    <aside class="related"><h2>Related</h2><ul>
{related}
    </ul></aside>
  </main>
  <footer><p>{t['footer']}</p></footer>
</body>
</html>
"""


def rss2(title: str, link: str, items: list[dict]) -> str:
    rows = "\n".join(
        f"""    <item>
      <title>{html.escape(i['title'])}</title>
      <link>{html.escape(i['link'])}</link>
      <guid isPermaLink="false">{i['guid']}</guid>
      <pubDate>{i['rfc822']}</pubDate>
      <dc:creator>{i.get('author', '')}</dc:creator>
      <category>{i.get('category', 'News')}</category>
      <description>{html.escape(i['summary'])}</description>
    </item>""" for i in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>{title}</title>
    <link>{link}</link>
    <description>Latest news from {title}</description>
{rows}
  </channel>
</rss>
"""


def atom(title: str, link: str, entries: list[dict]) -> str:
    rows = "\n".join(
        f"""  <entry>
    <title>{html.escape(e['title'])}</title>
    <link rel="alternate" href="{html.escape(e['link'])}"/>
    <id>{e['guid']}</id>
    <published>{e['iso']}</published>
    <updated>{e['iso']}</updated>
    <author><name>{e.get('author', 'Staff')}</name></author>
    <category term="{e.get('category', 'News')}"/>
    <summary>{html.escape(e['summary'])}</summary>
  </entry>""" for e in entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{title}</title>
  <link href="{link}"/>
  <id>{link}</id>
  <updated>2020-01-07T12:00:00Z</updated>
{rows}
</feed>
"""


def rdf(title: str, link: str, items: list[dict]) -> str:
    seq = "\n".join(f'        <rdf:li rdf:resource="{html.escape(i["link"])}"/>' for i in items)
    rows = "\n".join(
        f"""  <item rdf:about="{html.escape(i['link'])}">
    <title>{html.escape(i['title'])}</title>
    <link>{html.escape(i['link'])}</link>
    <dc:date>{i['iso']}</dc:date>
    <description>{html.escape(i['summary'])}</description>
  </item>""" for i in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="{link}">
    <title>{title}</title>
    <link>{link}</link>
    <description>Partner agency reports</description>
    <items><rdf:Seq>
{seq}
    </rdf:Seq></items>
  </channel>
{rows}
</rdf:RDF>
"""


BROKEN_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>Wire Digest: breaking
    <item><title>Unclosed <b>markup & a stray ampersand</title>
      <link>{{BASE}}/wire/stories/never-published.html
"""


def write(path: str, text: str) -> None:
    target = SITE / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def main() -> None:
    seed0 = seed_000()
    title2, seed2 = seed_002()
    seed0_title = "Shamkhani meets Syrian Prime Minister Imad Khamis in Tehran"
    tram_title, tram = OTHER_STORIES["tram"]
    snow_title, snow = OTHER_STORIES["snow"]

    pages = {
        "iranpress/2020/01/07/shamkhani-khamis-meeting.html":
            ("iranpress", seed0_title, seed0, "2020-01-07T09:30:00+03:30", "Iran Press desk"),
        "iranpress/2020/01/08/tram-line-approved.html":
            ("iranpress", tram_title, tram, "2020-01-08T11:00:00+03:30", "Sara Ahmadi"),
        "observer/news/syrian-delegation-tehran.html":
            ("observer", title2, seed2, "2020-01-07T15:45:00+03:00", "Observer staff"),
        "observer/news/snow-closes-roads.html":
            ("observer", snow_title, snow, "2020-01-08T07:20:00+03:00", "Karwan Aziz"),
        # The wire re-posts Iran Press's report verbatim, under its own URL and template.
        "wire/stories/2020-01-07-syria-iran-talks.html":
            ("wire", seed0_title, seed0, "2020-01-07T13:00:00+00:00", None),
        # ...and the Observer's report with the edits outlets make: a new headline, a
        # dateline, the last paragraph cut, a "read more" line: a near-duplicate.
        "wire/stories/2020-01-08-syrian-pm-in-tehran.html":
            ("wire", "Syria's prime minister leads delegation to Tehran",
             ["TEHRAN (Wire Digest) - " + seed2[0], *seed2[1:-1],
              "Read more reports from our partners on Wire Digest."],
             "2020-01-08T09:15:00+00:00", None),
    }
    for path, (outlet, title, paras, published, author) in pages.items():
        write(path, page(outlet, path, title, paras, published, author))

    b = "{{BASE}}"
    write("iranpress/rss.xml", rss2("Iran Press Daily", f"{b}/iranpress/", [
        {"title": seed0_title, "link": f"{b}/iranpress/2020/01/07/shamkhani-khamis-meeting.html",
         "guid": "iranpress-1001", "rfc822": "Tue, 07 Jan 2020 06:00:00 GMT",
         "author": "Iran Press desk", "category": "Politics",
         "summary": "Syrian Prime Minister met the secretary of Iran's security council."},
        {"title": tram_title, "link": f"{b}/iranpress/2020/01/08/tram-line-approved.html",
         "guid": "iranpress-1002", "rfc822": "Wed, 08 Jan 2020 07:30:00 GMT",
         "author": "Sara Ahmadi", "category": "City",
         "summary": "The council approved a twelve-kilometre tram line."},
        # A dead link: the page was never published (404).
        {"title": "Markets close higher", "link": f"{b}/iranpress/2020/01/08/markets-close-higher.html",
         "guid": "iranpress-1003", "rfc822": "Wed, 08 Jan 2020 12:00:00 GMT",
         "author": "Iran Press desk", "category": "Economy",
         "summary": "Tehran's stock exchange closed higher on Wednesday."},
    ]))
    write("observer/atom.xml", atom("Erbil Observer", f"{b}/observer/", [
        {"title": title2, "link": f"{b}/observer/news/syrian-delegation-tehran.html",
         "guid": "tag:observer,2020:1", "iso": "2020-01-07T12:45:00Z", "author": "Observer staff",
         "category": "Middle East",
         "summary": "A Syrian delegation met with Iranian officials in Tehran."},
        {"title": snow_title, "link": f"{b}/observer/news/snow-closes-roads.html",
         "guid": "tag:observer,2020:2", "iso": "2020-01-08T04:20:00Z", "author": "Karwan Aziz",
         "category": "Kurdistan", "summary": "Heavy snow closed mountain roads."},
    ]))
    write("wire/rss.xml", rdf("Wire Digest", f"{b}/wire/", [
        {"title": seed0_title, "link": f"{b}/wire/stories/2020-01-07-syria-iran-talks.html",
         "iso": "2020-01-07T13:00:00Z", "summary": "Partner report from Tehran."},
        {"title": "Syria's prime minister leads delegation to Tehran",
         "link": f"{b}/wire/stories/2020-01-08-syrian-pm-in-tehran.html",
         "iso": "2020-01-08T09:15:00Z", "summary": "Partner report from Tehran."},
        # The same Iran Press article again, behind tracking parameters and a fragment.
        {"title": seed0_title,
         "link": f"{b}/iranpress/2020/01/07/shamkhani-khamis-meeting.html?utm_source=wire&utm_medium=rss#top",
         "iso": "2020-01-07T13:05:00Z", "summary": "Via Iran Press."},
    ]))
    write("wire/broken.xml", BROKEN_FEED)

    (HERE / "feeds.txt").write_text(
        "# The demo's feed list. {{BASE}} is the loopback server newsbeam demo starts.\n"
        f"{b}/iranpress/rss.xml\n{b}/observer/atom.xml\n{b}/wire/rss.xml\n"
        f"{b}/wire/broken.xml  # malformed on purpose\n", encoding="utf-8")
    (HERE / "feeds.opml").write_text(f"""<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>newsbeam demo feeds</title></head>
  <body>
    <outline text="Middle East">
      <outline type="rss" text="Iran Press Daily" xmlUrl="{b}/iranpress/rss.xml"/>
      <outline type="rss" text="Erbil Observer" xmlUrl="{b}/observer/atom.xml"/>
    </outline>
    <outline text="Agencies">
      <outline type="rss" text="Wire Digest" xmlUrl="{b}/wire/rss.xml"/>
      <outline type="rss" text="Wire Digest (breaking)" xmlUrl="{b}/wire/broken.xml"/>
    </outline>
  </body>
</opml>
""", encoding="utf-8")


if __name__ == "__main__":
    main()
