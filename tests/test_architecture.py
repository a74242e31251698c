"""docs/architecture.md is the map of the code: its list of pipeline steps must be the one
`build_pipeline()` builds, in the same order, so the page cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ais_watch.api.live import LiveHub
from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.model import IngestStats
from ais_watch.pipeline.runner import PipelineOptions
from ais_watch.steps import build_detectors, build_pipeline
from ais_watch.store.writer import StoreWriter
from tests.helpers.db import engine_on
from tests.helpers.paths import REPO

ARCHITECTURE = REPO / "docs" / "architecture.md"


def documented_steps() -> list[str]:
    """The names of the numbered list after the `steps` marker: "1. `dedup`: ..."."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    after = text.split("<!-- steps:", 1)[1]
    names = []
    for line in after.splitlines()[1:]:
        found = re.match(r"\d+\. `([^`]+)`", line)
        if found:
            names.append(found.group(1))
        elif names and not line.startswith("   "):
            break  # the end of the list
    return names


@pytest.mark.integration
async def test_the_documented_steps_are_the_built_pipeline_in_order(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'a.db'}"})
    async with engine_on(settings["db"]) as engine:
        stats = IngestStats()
        detectors = await build_detectors(engine, settings)
        # The fullest pipeline: event-time ticks (replay) and the live hub (serve).
        pipeline = build_pipeline(engine, StoreWriter(engine, stats), stats, ReplayClock(),
                                  PipelineOptions(event_time_ticks=True), detectors=detectors.stages(),
                                  extra=[LiveHub()], segments=detectors.segments)
    built = [step.name for step in pipeline.steps]
    assert documented_steps() == built, f"docs/architecture.md lists other steps than build_pipeline: {built}"


@pytest.mark.unit
def test_the_steps_module_names_the_same_steps() -> None:
    """ais_watch/steps.py's docstring diagram names each step too."""
    doc = (REPO / "ais_watch" / "steps.py").read_text(encoding="utf-8").split('"""')[1]
    for name in documented_steps():
        assert f"- {name}" in doc or f"{name} (" in doc, f"ais_watch/steps.py does not describe {name!r}"
