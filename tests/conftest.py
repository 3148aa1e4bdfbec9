"""Shared fixtures: the bundled sample site on loopback, ../shared data, a pinned runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.loopback import LoopbackSite

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared"

# Every TestPipeline in the suite runs on the FnApiRunner (the DirectRunner's local engine).
RUNNER = "FnApiRunner"


def pinned_options(**extra) -> PipelineOptions:
    return PipelineOptions(runner=RUNNER, **extra)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a skip when this clone has no ../shared beside it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the checkout); not present here")
    return path


@pytest.fixture(scope="session")
def sample_site():
    with LoopbackSite(SAMPLES / "site") as site:
        yield site
