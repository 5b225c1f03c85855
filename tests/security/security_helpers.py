"""Helpers for the security tests: admin login through the real form, masking ids in answers."""

import re
from urllib.parse import urlsplit

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def csrf_from(client, path: str = "/admin/login") -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no csrf_token field on {path} ({page.status_code})"
    return match.group(1)


def admin_login(client, token: str):
    response = client.post("/admin/login", data={"csrf_token": csrf_from(client), "token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def masked(response, object_id: int) -> tuple[int, dict, str]:
    """Status, headers and body of an answer with `object_id` replaced by <id>: what a client
    learns beyond the id it sent itself."""
    body = re.sub(rf"\b{object_id}\b", "<id>", response.get_data(as_text=True))
    headers = {k: re.sub(rf"\b{object_id}\b", "<id>", v) for k, v in response.headers.items()}
    return response.status_code, headers, body


def fill(path: str, world) -> str:
    return (
        path.replace("<int:job_id>", str(world.queued))
        .replace("<int:sample_id>", str(world.sample))
        .replace("<int:corpus_id>", str(world.corpus))
        .replace("<int:analysis_id>", str(world.analysis))
        .replace("<int:sweep_id>", str(world.sweep))
    )


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/admin/login"


def job_status(db_session, job_id):
    from shared.db.models import Job

    db_session.expire_all()
    job = db_session.get(Job, job_id)
    return job.status.value, job.cancel_requested
