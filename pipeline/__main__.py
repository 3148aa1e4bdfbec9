"""``python -m pipeline run ...`` is the same as ``newsbeam run ...``."""

import sys

from pipeline.cli import main

sys.exit(main())
