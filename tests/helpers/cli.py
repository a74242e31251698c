"""`ais_watch.cli.main` run in-process, and reading what it printed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ais_watch.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ais-watch ARGV`."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jsonl(out: str) -> list[dict[str, Any]]:
    """The objects of JSON-lines output, one a line (a line that is not one fails the test)."""
    return [json.loads(line) for line in out.splitlines()]


def summary_value(out: str, label: str) -> int:
    """A figure of the replay summary, from its indented `  label   1,234` line."""
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d,]+)\s*$", out, re.MULTILINE)
    assert match, f"no {label!r} line in the replay summary:\n{out}"
    return int(match.group(1).replace(",", ""))
