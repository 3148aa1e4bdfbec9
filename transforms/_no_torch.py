"""``torch_hidden()``: imports made inside it find no PyTorch (``import torch`` raises
ImportError), and torch is importable again afterwards. For libraries that import PyTorch at
their own import when it is installed although newsbeam does not use it there (thinc's
probe: ``transforms._spacy``; Beam's model manager: ``transforms._inference``)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

__all__ = ["torch_hidden"]


@contextmanager
def torch_hidden() -> Iterator[None]:
    if "torch" in sys.modules:  # imported already: nothing to hide, nothing to save
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
