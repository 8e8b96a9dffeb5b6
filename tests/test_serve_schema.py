"""schemathesis against the schema `tts-temp serve` publishes at /openapi.json, a bounded run.

Every operation gets a few generated requests (positive mode: values the schema allows). Checks:
no 5xx, every status code documented, every response body matching its documented schema and
content type. Generated model and voice names are almost never served, so the long paths are
reached rarely here; tests/test_serve_openai.py covers each of them with real audio and text.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from serve_server import serve  # noqa: E402


@pytest.fixture(scope="module")
def served():
    with serve("--model", "tiny.en", "--workers", "2", "--queue", "64") as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case):
    case.call_and_validate(timeout=300)


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
