"""schemathesis against the schema `tts-temp serve` publishes at /openapi.json, a bounded run.

Every operation gets a few generated requests (values the schema allows). Checks: no 5xx, every
status code documented, every response body and header matching its documented schema and content
type. Generated model and voice names are almost never served, so the long paths are
reached rarely here; tests/test_serve_openai.py covers each of them with real audio and text.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402
from serve_server import serve  # noqa: E402


@pytest.fixture(scope="module")
def served():
    with serve("--model", "tiny.en", "--workers", "2", "--queue", "64") as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


# Not positive_data_acceptance: a schema-valid request may still name a model that is not served or
# carry bytes that are not audio, and then a 400 is the right answer.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]


def _operations(api_schema) -> list:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_every_operation_answers_within_its_schema(api_schema):
    # schemathesis's pytest plugin (from_fixture) does not run under pytest 9: the same run, by hand
    operations = _operations(api_schema)
    labels = {op.label for op in operations}
    assert {"POST /v1/audio/transcriptions", "POST /v1/audio/translations", "POST /v1/audio/speech",
            "GET /v1/models", "GET /v1/models/{model_id}", "GET /v1/audio/voices", "GET /health"} <= labels
    for op in operations:
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case):
            case.call_and_validate(timeout=300, checks=CHECKS)

        check()


def test_schema_documents_the_extensions(api_schema, served):
    import json
    import urllib.request

    with urllib.request.urlopen(served.url + "/openapi.json") as resp:
        doc = json.loads(resp.read())
    form = doc["components"]["schemas"]
    stt = next(v for k, v in form.items() if k.startswith("Body_transcriptions"))["properties"]
    for field in ("seed", "temperature_increment_on_fallback", "best_of", "beam_size", "top_k", "top_p",
                  "vad_filter", "compute_type", "timestamp_granularities[]"):
        assert field in stt, field
    speech = form["SpeechRequest"]["properties"]
    assert {"temperature", "seed", "verify", "speed"} <= set(speech)
    assert all("422" not in op["responses"] for item in doc["paths"].values() for op in item.values())
