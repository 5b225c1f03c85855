"""Admin status pages under /admin: jobs (live progress and loss curves), workers and queues,
corpora, users. Server-rendered Jinja templates (services/web/templates/admin/, in the site's one
layout), the site's CSS and vanilla JS, no CDN. `services.web.init_app` registers the blueprint.
"""

from . import views  # noqa: F401 - registers the routes on admin_bp
from .blueprint import FETCHED_ENDPOINTS, PUBLIC_ENDPOINTS, admin_bp

__all__ = ["FETCHED_ENDPOINTS", "PUBLIC_ENDPOINTS", "admin_bp"]
