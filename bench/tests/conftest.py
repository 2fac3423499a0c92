"""The bench's own tests (not part of `make test`): `python -m pytest bench/tests`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
