"""``/docs``: Swagger UI over the edge's OpenAPI document, served from the hub itself.

FastAPI's default page loads Swagger UI from a CDN, so it stays blank on a government network without internet;
the assets come from the ``swagger-ui-bundle-v2`` wheel instead, and the page asks nothing of any other host.
ReDoc, which would load its script and fonts from elsewhere, is not served.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # the wheel has no py.typed

__all__ = ["DOCS_ASSETS", "install_docs"]

DOCS_ASSETS = "/docs/assets"


def install_docs(app: FastAPI, title: str) -> None:
    """``GET /docs`` and its assets under ``/docs/assets``; ``app`` must be made with ``docs_url=None``."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that serves the hub under a prefix
        assets = f"{root}{DOCS_ASSETS}"
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            # Swagger UI would otherwise show a badge image fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
