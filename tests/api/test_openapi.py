"""The OpenAPI document: valid, and generated from the models that validate requests."""

from openapi_spec_validator import validate


def test_openapi_document_is_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)
    assert {
        "/healthz",
        "/readyz",
        "/api/v1/corpora",
        "/api/v1/corpora/{corpus_id}",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/samples",
        "/api/v1/samples/{sample_id}",
        "/api/v1/samples/{sample_id}/text",
        "/api/v1/samples/{sample_id}/cancel",
        "/api/v1/jobs/{job_id}/checkpoint",
    } <= set(doc["paths"])


def test_job_schema_has_the_hyperparameters_and_their_constraints(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    body = doc["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    props = schema["properties"]
    assert schema["additionalProperties"] is False  # unknown fields are rejected
    assert schema["required"] == ["corpus_id"]
    assert props["layers"]["minimum"] == 1 and props["layers"]["maximum"] == 4
    assert props["units"]["type"] == "integer"
    assert props["dropout"]["exclusiveMaximum"] == 1.0
    assert props["learning_rate"]["exclusiveMinimum"] == 0.0
    assert props["optimizer"]["enum"] == ["rmsprop", "adam"]
    assert props["mode"]["enum"] == ["stateful", "stateless"]
    assert {"batch_size", "seq_len", "epochs", "validation_split", "clipnorm", "patience", "seed"} <= set(props)


def test_operations_are_secured_except_health(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert doc["paths"]["/api/v1/jobs"]["post"]["security"] == [{"bearer": []}]
    assert "422" in doc["paths"]["/api/v1/jobs"]["post"]["responses"]


def test_server_and_dependency_errors_are_documented_on_every_operation(client):
    """431 (the HTTP server's answer to an oversized request head) and 503 + Retry-After
    (shedding, a dependency that did not answer in time) are JSON errors on every operation but
    liveness, which is never shed; /readyz documents its own 503 (which dependency failed)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses["431"]["content"] == error_body, (path, method)
            if path == "/healthz":
                assert "503" not in responses
            elif path == "/readyz":
                assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/Health")
            else:
                assert responses["503"]["content"] == error_body, (path, method)
                assert "Retry-After" in responses["503"]["headers"], (path, method)
    assert "security" not in doc["paths"]["/readyz"]["get"]
