"""The interactive API documentation at /docs, served with its own Swagger UI assets.

FastAPI's built-in page loads Swagger UI from a CDN: without internet (an air-gapped deployment, a laptop on a
train) it stays blank, and the Content-Security-Policy would have to let in a foreign script host. The package
fastapi-offline ships the same Swagger UI files, kept current; they are served from here, same-origin.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
SCHEMA_PATH = "/openapi.json"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def install_docs(app: FastAPI, *, title: str, summary: str, version: str) -> None:
    """Serve the OpenAPI schema and Swagger UI on ``app``, which must not serve FastAPI's CDN pages itself."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None: their pages load scripts from a CDN")
    app.title, app.summary, app.version = title, summary, version
    app.openapi_url = SCHEMA_PATH
    app.openapi_schema = None  # built again, with this title, at the first request

    @app.get(SCHEMA_PATH, include_in_schema=False)
    async def schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in _SERVED:
            raise HTTPException(404, f"There is no documentation file {name[:60]!r}.")
        return FileResponse(_ASSETS / name)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=SCHEMA_PATH,
            title=f"{title} - documentation",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )
