"""``newsbeam doctor OUT [--repair]``: find the files of OUT that cannot be read, and with
``--repair`` move them to ``OUT/_quarantine/`` (same relative path), saying what each costs.

Checked: every Parquet file of the tables and of ``state/`` (its footer is read, which a
truncated or overwritten file fails), and every record in ``runs/`` (JSON). A run refuses
to start while a state file is unreadable (pipeline/validate.py names it); after
``--repair`` it starts, with what the moved files held forgotten.
"""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.validate import ArgumentParser
from transforms._files import ensure_dir, join, match_under, unreadable

__all__ = ["find_damaged", "quarantine", "main", "QUARANTINE", "COST"]

QUARANTINE = "_quarantine"
# What moving a file of each folder aside costs, in the words of what the next run does.
COST = {
    "state/seen": "these item URLs may be fetched and ingested again",
    "state/dedup": "copies of these articles may be kept as new articles",
    "state/feeds": "these feeds are fetched in full once more (no conditional GET)",
    "state/stories": "follow-ups of these stories start new stories",
    "articles": "these articles are gone from articles/ (their runs' manifests still count them)",
    "entities": "these entity rows are gone from entities/",
    "duplicates": "these copies are gone from duplicates/",
    "failures": "these failure rows are gone from failures/",
    "stories": "these story rows are gone from stories/",
    "runs": "these run records are gone (summary and report cannot show those runs)",
}


def _relative(root: str, path: str) -> str:
    return path[len(root.rstrip("/")) + 1:]


def find_damaged(root: str) -> list[tuple[str, str]]:
    """(relative path, reason) of every file of OUT that cannot be read."""
    found = []
    for pattern in (("**", "*.parquet"), ("runs", "*.json")):
        for path in match_under(root, *pattern):
            rel = _relative(root, path)
            if rel.startswith((QUARANTINE + "/", "_temporary/")):
                continue
            reason = unreadable(path)
            if reason is not None:
                found.append((rel, reason))
    return found


def _cost(rel: str) -> str:
    parts = rel.split("/")
    key = "/".join(parts[:2]) if parts[0] == "state" else parts[0]
    return COST.get(key, "its content is no longer read")


def quarantine(root: str, rel: str) -> str:
    """Moves ``OUT/rel`` to ``OUT/_quarantine/rel``; returns the new path."""
    target = join(root, QUARANTINE, rel)
    ensure_dir(FileSystems.split(target)[0])
    FileSystems.rename([join(root, rel)], [target])
    return target


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="newsbeam doctor", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="Dataset root written by newsbeam run or newsbeam stream.")
    parser.add_argument("--repair", action="store_true", help="Move the unreadable files to OUT/_quarantine/.")
    args = parser.parse_args(argv)
    if not FileSystems.exists(args.output) and not match_under(args.output, "*"):
        print(f"newsbeam doctor: {args.output}: no such dataset")
        return 2
    damaged = find_damaged(args.output)
    if not damaged:
        print(f"{args.output}: every file reads")
        return 0
    for rel, reason in damaged:
        if args.repair:
            moved = quarantine(args.output, rel)
            print(f"moved {rel} -> {_relative(args.output, moved)} ({reason}); cost: {_cost(rel)}")
        else:
            print(f"unreadable {rel} ({reason}); moving it costs: {_cost(rel)}")
    if args.repair:
        print(f"{len(damaged)} file(s) moved to {join(args.output, QUARANTINE)}; runs can start again")
        return 0
    print(f"{len(damaged)} unreadable file(s); `newsbeam doctor {args.output} --repair` moves them aside")
    return 1
