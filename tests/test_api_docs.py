"""README's HTTP API section names every route of the route table (from which the server and the OpenAPI
document are built; tests/test_api.py checks those two agree): a route added without a word in the README
fails here."""

from __future__ import annotations

import re

import pytest

from ais_watch.api.routes import ROUTES
from tests.helpers.paths import REPO

pytestmark = pytest.mark.unit


def api_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]


def test_readme_names_every_route() -> None:
    section = api_section()
    # The path itself, not as the start of a longer one: /api/vessels is not named by /api/vessels/{mmsi}.
    missing = [f"{route.method} {route.path}" for route in ROUTES
               if not re.search(re.escape(route.path) + r"(?![\w/{}.-])", section)]
    assert missing == [], f"README.md's HTTP API section does not name {missing}"
