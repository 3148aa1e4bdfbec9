"""Shared fixtures: the bundled sample site on loopback, ../shared data, a pinned runner."""

from __future__ import annotations

import os
import tempfile
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


@pytest.fixture(scope="session", autouse=True)
def beam_temp_dirs_under_pytest(tmp_path_factory):
    """Beam's Pipeline makes a ``beam-pipeline-temp*`` directory when it is built and removes
    it only at the end of ``run()``: a pipeline built and never run, or a pipeline process
    stopped before its run ended, left one in /tmp. Under pytest's own temporary
    root (this process's and, through TMPDIR, its subprocesses') they go with it: pytest
    keeps the last three sessions."""
    root = str(tmp_path_factory.mktemp("tmp"))
    before, env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = root
    yield
    tempfile.tempdir = before
    if env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = env
