"""``newsbeam demo``: serve the bundled samples/ site on loopback, ingest it, summarise, and
write the run's HTML report (``OUT/reports/<run_id>.html``).

Nothing leaves the machine: the site is served on 127.0.0.1 and the pipeline runs with
``--allow_private_hosts`` so it may fetch from there.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pipeline.cli import run
from pipeline.loopback import PLACEHOLDER, LoopbackSite
from pipeline.report import write_report
from pipeline.summary import print_summary

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def materialise_feed_list(site: LoopbackSite, source: Path, target_dir: Path) -> Path:
    """Writes ``source`` with ``{{BASE}}`` replaced by the running site's address."""
    target = target_dir / source.name
    target.write_bytes(source.read_bytes().replace(PLACEHOLDER, site.base.encode()))
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam demo", description=__doc__)
    parser.add_argument("--output", default="demo-output", help="Dataset directory to write.")
    parser.add_argument("--feeds", default=str(SAMPLES / "feeds.opml"),
                        help="Feed list with {{BASE}} placeholders (default: samples/feeds.opml).")
    parser.add_argument("--runner", default=None,
                        help="Beam runner to use (default: the FnApiRunner, one worker process per core).")
    args, beam_args = parser.parse_known_args(argv)
    with LoopbackSite(SAMPLES / "site") as site, tempfile.TemporaryDirectory() as tmp:
        feeds = materialise_feed_list(site, Path(args.feeds), Path(tmp))
        print(f"Serving {SAMPLES / 'site'} at {site.base}; ingesting {args.feeds} ...")
        outcome = run([
            f"--feeds={feeds}", f"--output={args.output}", *([f"--runner={args.runner}"] if args.runner else []),
            "--allow_private_hosts", "--per_host_delay=0.1", *beam_args,
        ])
    print_summary(args.output, outcome.run_id)
    print(f"Report of this run (one HTML file, opens offline): {write_report(args.output, outcome.run_id)}")
    return 0 if outcome.manifest["conservation"]["balanced"] else 1
