"""Property-based fuzz of the whole API from its own OpenAPI document (schemathesis).

Every operation gets schemathesis' examples, coverage and fuzzing cases, valid and invalid
(hypothesis, bounded and derandomized), sent with a user's token; the user owns corpus 1, job 1
(with checkpoints) and sample 1 (succeeded), 1 being the document's example id. Checks: no 5xx,
and every answer is documented: status code, content type, headers and body schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.db.models import Sample, WorkStatus

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(client, user_headers, make_job, record_epochs, db_session, store):
    job_id = record_epochs(make_job()["id"], [1.2, 1.2])
    sample_id = client.post(f"/api/v1/jobs/{job_id}/samples", headers=user_headers, json={}).get_json()["id"]
    sample = db_session.get(Sample, sample_id)
    sample.status, sample.object_key = WorkStatus.succeeded, f"samples/{sample_id}/result"
    store.put_bytes(sample.object_key, b"def f():\n    pass\n")
    db_session.commit()
    assert (job_id, sample_id) == (1, 1)


@pytest.fixture
def api_schema(app, seeded):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, user_headers):
    case.call_and_validate(headers=user_headers, checks=CHECKS)
