"""No request gets a 5xx: schemathesis generates requests from our own OpenAPI document, for every
operation, both ones the document allows and ones it does not, and sends them to the WSGI app as
each kind of caller. Examples are bounded and derandomized: the same requests on every run."""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

EXAMPLES = 6  # per operation and generation mode: 25 to 35 seconds for the five callers on a quiet machine

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # a fixed seed: a failure found once is found on every run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
    suppress_health_check=list(HealthCheck),
)


def _headers(api, who: str) -> dict:
    if who == "admin":
        return api.admin
    if who == "brand":
        return api.brand().headers
    if who == "store":
        return api.store().headers
    if who == "consumer":
        return api.consumer().headers
    return {}


@pytest.mark.parametrize("who", ["admin", "brand", "store", "consumer", "anonymous"])
def test_no_generated_request_gets_a_server_error(app, api, who):
    headers = _headers(api, who)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = []

    def fuzz(operation, mode):
        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case):
            response = case.call(headers=headers)
            if response.status_code >= 500:
                curl = case.as_curl_command(headers=headers)
                failures.append(f"{operation.label} ({mode.value}): {response.status_code}\n    {curl}")

        send()

    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(result.ok(), mode)
    assert not failures, f"{len(failures)} requests got a 5xx as {who}:\n" + "\n".join(failures[:20])
