"""Write the OpenAPI document to a file (``python -m redoubt.api.openapi_export PATH``).

The committed ``docs/openapi.json`` is the API contract that the web client's types and
outside checks are generated from; ``tests/test_openapi.py`` fails when the served
document drifts from it. Regenerate it after changing an endpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from redoubt.api.app import create_app
from redoubt.container import Container
from redoubt.core.settings import load_settings

__all__ = ["openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    return create_app(Container(load_settings({}))).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json")
    target.write_text(render(openapi_document()))
    sys.stdout.write(f"wrote {target}\n")
