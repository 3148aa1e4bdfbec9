"""Beam's ``RunInference`` and model-handler base, imported without PyTorch.

``apache_beam.ml.inference.base`` (2.77) imports its ``ModelManager`` at module level, and
that module imports ``torch`` and ``scipy`` whenever they are installed: 1.9 s in every
process that builds or runs the graph (the main process, every SDK worker), measured with
py-spy once the ``embeddings`` extra had installed PyTorch. newsbeam never asks for the
model manager (``use_model_manager`` stays off), so ``torch`` is hidden while Beam's module
is first imported: the import inside Beam's ``try`` fails and it sets ``ModelManager`` (and
``resource``) to None, as on a machine without PyTorch. ``resource`` is given back, so
Beam still measures a model's memory at load. A process that has imported torch already
imports as usual, and torch stays importable afterwards (story embeddings load it later).
``transforms._spacy.spacy_for`` does the same for thinc's probe.
"""

from __future__ import annotations

import sys

from transforms._no_torch import torch_hidden

__all__ = ["ModelHandler", "PredictionResult", "RunInference"]


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
