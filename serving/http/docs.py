"""GET /docs (Swagger UI) and /redoc (ReDoc) that work without internet access.

FastAPI's own pages load their JavaScript, CSS and fonts from CDNs, which a bank's internal
network usually blocks. The assets come from the pinned `fastapi-offline` wheel (it ships
swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and a favicon and nothing else this
service uses), served under /docs-assets; ReDoc is told not to fetch Google Fonts, and a Content-Security-Policy
keeps both pages on this origin (ReDoc's footer logo would come from cdn.redoc.ly otherwise).
"""
from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
# FastAPI's Swagger page bootstraps with an inline script: it runs under a nonce fresh for each response,
# so no other inline script can (an injected one is refused). Both UIs set styles from their scripts and
# ReDoc renders in a blob: worker, so inline styles and blob: workers stay allowed.
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


def _own_origin(page: HTMLResponse) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = page.body.decode("utf-8").replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP.format(nonce=nonce)})


def assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = f"{app.title} {app.version}"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return _own_origin(get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{title} · API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon.png"))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _own_origin(get_redoc_html(openapi_url=app.openapi_url, title=f"{title} · ReDoc",
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False))
