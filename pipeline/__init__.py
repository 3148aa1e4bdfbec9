"""newsbeam's driver package: options, graph assembly, CLI, run manifest, demo."""

import logging

# Two warnings Beam logs on every local run that say nothing about newsbeam's work:
# its GCP extras are not installed, and RunInference cannot read memory on this platform.
_NOISE = ("apitools not found", "Resource module is not available")


def _not_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NOISE)


logging.getLogger().addFilter(_not_noise)
