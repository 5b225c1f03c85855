"""A user and an uploaded corpus over HTTP, for the tests that drive real workers through the API."""

import inspect
import io
import json.decoder

from shared.auth import create_user_token
from shared.db.session import session_scope


def user_with_corpus(client, db_url: str, user: str) -> tuple[dict, dict, str]:
    """(headers, the corpus as the API answered its upload, its text): a new user's token and
    json.decoder's source twice, uploaded as decoder.py."""
    with session_scope(db_url) as session:
        headers = {"Authorization": f"Bearer {create_user_token(session, user)}"}
    text = inspect.getsource(json.decoder) * 2
    upload = client.post(
        "/api/v1/corpora",
        headers=headers,
        data={"file": (io.BytesIO(text.encode()), "decoder.py"), "name": "decoder"},
    )
    assert upload.status_code == 201, upload.get_json()
    return headers, upload.get_json(), text
