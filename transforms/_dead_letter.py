"""What failed in a batch that ``RunInference.with_exception_handling`` set aside."""

from __future__ import annotations

from typing import Any


def failed_inference(exc: Any) -> tuple[str, str]:
    """(error class name, message) of a dead letter's exception: Beam's dead letter carries
    (exception class, repr, traceback lines), not the exception; an exception is read as is."""
    if isinstance(exc, tuple) and exc and isinstance(exc[0], type):
        return exc[0].__name__, str(exc[1])
    return type(exc).__name__, str(exc)
