"""The pages every user has (any API token signs in, not only an admin's), the landing page at
`/` and the API documentation (Swagger UI from local static files at /api/v1/docs).
`services.web.init_app` registers the blueprint and the docs.
"""

from . import analysis_views, cancel_views, compare, docs, lists, sample_views, views  # noqa: F401 - they register the routes on pages_bp
from .blueprint import pages_bp

__all__ = ["docs", "pages_bp"]
