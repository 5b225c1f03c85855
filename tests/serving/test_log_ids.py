"""services/serve.py's log_request_ids: every line logged while a request is served carries the
job, sample or analysis its URL names (shared.logs), and none once the request is over."""

import logging

from flask import Flask

from services.serve import log_request_ids
from shared import logs


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.addFilter(logs.ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_a_requests_url_ids_are_on_its_lines_and_gone_after():
    app = Flask(__name__)
    log = logging.getLogger("test.log_ids")

    @app.get("/jobs/<int:job_id>/samples/<int:sample_id>")
    def view(job_id, sample_id):
        log.warning("serving")
        return "ok"

    log_request_ids(app)
    kept = Kept()
    log.addHandler(kept)
    try:
        assert app.test_client().get("/jobs/4/samples/9").status_code == 200
        log.warning("after")
    finally:
        log.removeHandler(kept)
    serving, after = kept.records
    assert (serving.job, serving.sample) == (4, 9)  # type: ignore[attr-defined]
    assert not hasattr(after, "job") and not hasattr(after, "sample")
