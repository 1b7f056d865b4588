"""The served OpenAPI document is the committed contract (docs/openapi.json)."""

from __future__ import annotations

import json
from pathlib import Path

from redoubt.api.openapi_export import openapi_document, render
from tests.harness import Server

COMMITTED = Path(__file__).parent.parent / "docs" / "openapi.json"


def test_committed_openapi_is_current() -> None:
    assert COMMITTED.read_text() == render(openapi_document()), (
        "The API changed: run `uv run python -m redoubt.api.openapi_export` and commit "
        "docs/openapi.json."
    )


async def test_server_serves_the_committed_document(server: Server) -> None:
    resp = await server.http.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.json() == json.loads(COMMITTED.read_text())
