"""The OpenAPI document, generated from the route table (routes.py), so it cannot drift from what the
server does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ais_watch import __version__

if TYPE_CHECKING:  # routes.py serves this document, so it imports this module
    from ais_watch.api.routes import Route


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "parameters": [
                {
                    "name": n,
                    "in": where,
                    "required": where == "path",
                    "description": d,
                    "schema": {"type": "string"},
                }
                for n, where, d in route.params
            ],
            "responses": {"200": {"description": "OK"}, "400": {"description": "Bad request"}},
        }
        if route.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["x-role"] = route.role
            operation["responses"].update(
                {
                    "401": {"description": "No valid token"},
                    "403": {"description": f"Needs the {route.role} role"},
                }
            )
        if route.body:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {k: {"type": v} for k, v in route.body.items()},
                        }
                    }
                }
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "ais-watch", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
