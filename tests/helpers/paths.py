"""Where things are, independent of the directory pytest was started from."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
DEMO_DATA = REPO / "ais_watch" / "data" / "demo"
FIXTURES = TESTS / "fixtures"
