"""Write the API's OpenAPI description to a file, for the web app's generated types.

`python -m tradehall.entrypoints.web.openapi web/openapi.json` builds the FastAPI app without
starting anything (no engine, no database) and writes `app.openapi()`; `openapi-typescript`
then turns it into `web/src/api/schema.d.ts`. `dev.py` runs both before each web build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tradehall.entrypoints.api.app import create_app

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform


def openapi_document() -> dict[str, Any]:
    """The OpenAPI description; the routes never touch the platform while describing."""
    return create_app(cast("Platform", None)).openapi()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tradehall.entrypoints.web.openapi OUT.json", file=sys.stderr)
        return 2
    text = json.dumps(openapi_document(), indent=1, sort_keys=True) + "\n"
    out = Path(argv[0])
    if not out.exists() or out.read_text() != text:
        out.write_text(text)  # unchanged content keeps the file's time: no needless rebuild
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
