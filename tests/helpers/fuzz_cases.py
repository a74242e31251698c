"""How many cases each fuzz property ran, and how fast: `@counted` under `@given` counts them and
tests/conftest.py prints the table at the end of the run (the figures in the README come from it)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass
class CaseCount:
    cases: int = 0
    first: float = 0.0  # perf_counter when the first case started
    last: float = 0.0  # ... and when the last one ended

    @property
    def seconds(self) -> float:
        return self.last - self.first


CASES: dict[str, CaseCount] = {}
F = TypeVar("F", bound=Callable[..., Any])


def counted(test: F) -> F:
    """Counts the cases a property runs (under @given): the time between the first case's start and the
    last one's end includes Hypothesis's own generation, so cases/s is the rate a fuzz run really has."""
    name = test.__name__

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        count = CASES.setdefault(name, CaseCount(first=time.perf_counter()))
        try:
            return test(*args, **kwargs)
        finally:
            count.cases += 1
            count.last = time.perf_counter()

    return run  # type: ignore[return-value]


def case_rate_lines() -> list[str]:
    """One line a property: cases run, seconds, cases per second; then the total."""
    if not CASES:
        return []
    width = max(len(name) for name in CASES)

    def line(name: str, cases: int, seconds: float) -> str:
        rate = cases / max(seconds, 1e-9)
        return f"{name:<{width}}  {cases:>7,} cases  {seconds:7.1f} s  {rate:>8,.0f} cases/s"

    lines = [line(name, c.cases, c.seconds) for name, c in sorted(CASES.items())]
    lines.append(line("total", sum(c.cases for c in CASES.values()), sum(c.seconds for c in CASES.values())))
    return lines
