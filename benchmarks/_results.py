"""Where every benchmark leaves its figures: benchmarks/results/<name>.json."""

from __future__ import annotations

import json
from pathlib import Path


def save(path: Path, result: dict) -> None:
    """Writes ``result`` as indented JSON (non-ASCII kept readable), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
