"""``/docs``: the interactive API documentation, fetching nothing from elsewhere.

FastAPI's own page loads Swagger UI from a CDN; this one is Swagger UI 5 (it reads OpenAPI 3.1)
from the ``swagger-ui-bundle-v2`` package, served at ``/docs-assets`` by this server.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path

PATH = "/docs"
#: Swagger UI's script and style, served at ``/docs-assets``
ASSETS = str(swagger_ui_path)
#: Swagger UI's colours raised to a readable contrast (WCAG AA, checked by axe-core)
_READABLE = '<link rel="stylesheet" href="/static/docs.css">'
_FORGET_TOKEN = ('<script>if (new URLSearchParams(location.search).has("token")) '
                 'history.replaceState(null, "", location.pathname + location.hash)</script>')


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH, response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        """Like the panel, the page takes the token out of the address once the cookie
        carries it."""
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="rtmatte API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   # a deep link inside each operation's button is a control
                                   # inside a control, which screen readers cannot reach
                                   swagger_ui_parameters={"deepLinking": False})
        html = (page.body.decode().replace("<html>", '<html lang="en">', 1)
                .replace("</head>", f"{_READABLE}</head>", 1)
                .replace("</body>", f"{_FORGET_TOKEN}</body>", 1))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return routes
