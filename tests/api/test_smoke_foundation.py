def test_healthz_and_readyz_answer(client):
    assert client.get("/healthz").json == {"status": "ok"}
    body = client.get("/readyz").json
    assert body["db"] is True


def test_openapi_document_lists_the_batch_endpoint(client):
    doc = client.get("/api/openapi.json").json
    assert "/api/v1/brand/batches" in doc["paths"]
