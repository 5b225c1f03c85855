"""The API documentation at /api/v1/docs: Swagger UI (flask-openapi3-swagger's static files, served
by this server: no CDN) started by our own script (services/web/static/api_docs.js), reading
/api/v1/openapi.json. /api/v1/ (which flask-openapi3 makes a list of installed UIs) and the
plugin's own pages (which carry inline scripts) lead there.

The page has the site's security headers (services/web/security.py): the CSP allows no inline script,
and framing is refused. The token typed into "Authorize" is not kept in localStorage (no
`persistAuthorization`)."""

from flask import redirect, render_template, request, url_for
from flask_openapi3 import OpenAPI

from ..security import CSP, security_headers

DOCS_ENDPOINT = "api_docs"
OPENAPI_INDEX_ENDPOINT = "openapi.openapi"  # flask-openapi3's page at <doc_prefix>/
SWAGGER_PAGES = ("swagger.swagger", "swagger.oauth2-redirect")  # the plugin's pages, inline scripts in them
DOCS_BLUEPRINTS = ("swagger", "openapi")  # the UI's static files and the OpenAPI document
SWAGGER_STATIC = "swagger.static"
# the site's CSP, and the one style element Swagger UI's bundle inserts (its hash: a new bundle
# with another element shows as a CSP error in tests/browser/test_pages.py); scripts: files only
SWAGGER_STYLE_HASH = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
DOCS_CSP = CSP.replace("style-src 'self';", f"style-src 'self' {SWAGGER_STYLE_HASH};")


def docs_url(app: OpenAPI) -> str:
    return f"{app.doc_prefix}/docs"


def _headers(response):
    """The site's headers on the docs page, the OpenAPI document and Swagger UI's files."""
    if request.endpoint == DOCS_ENDPOINT or request.blueprint in DOCS_BLUEPRINTS:
        response.headers["Content-Security-Policy"] = DOCS_CSP
        return security_headers(response, SWAGGER_STATIC)
    return response


def init_app(app: OpenAPI) -> None:
    doc_url = app.doc_url.lstrip("/")  # relative: the page sits next to the document

    def api_docs():
        # the page's own links are relative (swagger/css/..., swagger/js/...): from
        # <prefix>/docs they resolve to flask-openapi3-swagger's static files under <prefix>/swagger
        return render_template("pages/api_docs.html", doc_url=doc_url)

    app.add_url_rule(docs_url(app), DOCS_ENDPOINT, api_docs)
    # the address with a trailing slash, as people type it, leads to the page
    app.add_url_rule(docs_url(app) + "/", DOCS_ENDPOINT, api_docs, redirect_to=docs_url(app))
    for endpoint in (OPENAPI_INDEX_ENDPOINT, *SWAGGER_PAGES):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = lambda: redirect(url_for(DOCS_ENDPOINT))
    app.after_request(_headers)
