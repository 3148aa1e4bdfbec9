"""Beam's ``RunInference`` and model-handler base, imported without PyTorch; and the reader
of its dead letters (``failed_inference``), for the NER and embedding steps.

``apache_beam.ml.inference.base`` (2.77) imports its ``ModelManager`` at module level, and
that module imports ``torch`` and ``scipy`` whenever they are installed: 1.9 s in every
process that builds or runs the graph (the main process, every SDK worker), measured with
py-spy once the ``embeddings`` extra had installed PyTorch (and twice the peak memory of a
1,000-article run: benchmarks/results/trials/startup_ab_with_torch_installed.json). newsbeam never asks for the
model manager (``use_model_manager`` stays off), so ``torch`` is hidden while Beam's module
is first imported: the import inside Beam's ``try`` fails and it sets ``ModelManager`` (and
``resource``) to None, as on a machine without PyTorch. ``resource`` is given back, so
Beam still measures a model's memory at load. A process that has imported torch already
imports as usual, and torch stays importable afterwards (story embeddings load it later).
``transforms._spacy.spacy_for`` does the same for thinc's probe.
"""

from __future__ import annotations

import sys
from typing import Any

from transforms._no_torch import torch_hidden

__all__ = ["ModelHandler", "PredictionResult", "RunInference", "failed_inference"]


def _import_base():
    if "apache_beam.ml.inference.base" in sys.modules or "torch" in sys.modules:
        from apache_beam.ml.inference import base

        return base
    with torch_hidden():
        from apache_beam.ml.inference import base
    if getattr(base, "resource", 0) is None:
        import resource

        base.resource = resource
    return base


_base = _import_base()
ModelHandler = _base.ModelHandler
PredictionResult = _base.PredictionResult
RunInference = _base.RunInference


def failed_inference(exc: Any) -> tuple[str, str]:
    """(error class name, message) of a batch that ``RunInference.with_exception_handling``
    set aside: Beam's dead letter carries (exception class, repr, traceback lines), not the
    exception; an exception is read as is."""
    if isinstance(exc, tuple) and exc and isinstance(exc[0], type):
        return exc[0].__name__, str(exc[1])
    return type(exc).__name__, str(exc)
