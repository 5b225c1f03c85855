"""The API documentation at /api/v1/docs: Swagger UI (flask-openapi3-swagger's page and its
static files, served by this server: no CDN), reading /api/v1/openapi.json. /api/v1/ (which
flask-openapi3 makes a list of installed UIs) leads there."""

from flask import redirect, render_template_string, url_for
from flask_openapi3 import OpenAPI
from flask_openapi3_swagger.templates import swagger_html_string

DOCS_ENDPOINT = "api_docs"
OPENAPI_INDEX_ENDPOINT = "openapi.openapi"  # flask-openapi3's page at <doc_prefix>/
# no request to validator.swagger.io (Swagger UI's default badge for a non-local host): nothing
# but this server is contacted; the Bearer token typed into "Authorize" survives a reload
SWAGGER_CONFIG = {"validatorUrl": None, "persistAuthorization": True}


def docs_url(app: OpenAPI) -> str:
    return f"{app.doc_prefix}/docs"


def init_app(app: OpenAPI) -> None:
    doc_url = app.doc_url.lstrip("/")  # relative: the page sits next to the document

    def api_docs():
        # the page's own links are relative (swagger/css/..., swagger/js/...): from
        # <prefix>/docs they resolve to flask-openapi3-swagger's static files under <prefix>/swagger
        return render_template_string(
            swagger_html_string, doc_url=doc_url, swagger_config=SWAGGER_CONFIG, oauth_config=None
        )

    app.add_url_rule(docs_url(app), DOCS_ENDPOINT, api_docs)
    if OPENAPI_INDEX_ENDPOINT in app.view_functions:
        app.view_functions[OPENAPI_INDEX_ENDPOINT] = lambda: redirect(url_for(DOCS_ENDPOINT))
