"""The bench's own tests (part of `make test`; matplotlib comes with the bench extra the venv installs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
