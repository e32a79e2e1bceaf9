"""Property test of the HTTP API against its own OpenAPI schema (schemathesis + hypothesis), bounded.

For every operation in ``/openapi.json`` schemathesis generates requests that follow the schema
(positive) and requests that violate it (negative). Checked: the service never answers with a server
error, every status code it sends is documented, responses match their declared schema and content type,
and schema-violating requests are rejected with 4xx. The reader is a tiny random QA model, so each /ask
takes milliseconds; the whole run is about 90 requests and stays well under a minute.

Schemathesis's own pytest plugin does not run under this pytest, so its strategies are driven with
hypothesis directly (``operation.as_strategy``), derandomised: CI failures reproduce locally.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Slow: schemathesis fuzzes every operation (~90 requests, some reading answers).
pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 5  # (11 positive + 7 negative) x 5 = at most 90 requests

OPERATIONS = [
    "GET /health",
    "GET /ready",
    "POST /ask",
    "POST /search",
    "GET /documents",
    "POST /documents",
    "DELETE /documents/{doc_id}",
    "POST /faq",
    "GET /faq",
    "POST /feedback",
    "GET /feedback",
]
# Operations that take input; the others have nothing a request could get wrong.
WITH_INPUT = [
    "POST /ask", "POST /search", "POST /documents", "DELETE /documents/{doc_id}", "POST /faq",
    "POST /feedback", "GET /feedback",
]
CASES = [(label, "positive") for label in OPERATIONS] + [(label, "negative") for label in WITH_INPUT]


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory, tiny_qa_model_dir):
    from docqa.app.server.app import create_app
    from docqa.pipelines.api import DocQA

    root = tmp_path_factory.mktemp("fuzz")
    source = root / "harbour.txt"
    source.write_text(
        "The harbour of Brightwater was built in 1852. Its lighthouse keeper, Marta Olsen, lit the lamp "
        "every night for thirty years.\n",
        encoding="utf-8",
    )
    qa = DocQA(root / "index", reader_model=str(tiny_qa_model_dir))
    assert qa.ingest([source]).ok
    app = create_app(qa, max_upload_bytes=64 * 1024, lock_timeout=1.0, warm_up=False)
    app.state.ready.load(qa)  # what the start-up warm-up does in a thread; /ready is then 200
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_fuzzed(fuzz_schema):
    """The list below must follow the API: a new endpoint has to be added to the fuzz run."""
    labels = {result.ok().label for result in fuzz_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


def _checks():
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_operation_conforms_to_its_schema(fuzz_schema, label, mode):
    from schemathesis import GenerationMode

    operation = fuzz_schema.find_operation_by_label(label)
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    strategy = operation.as_strategy(generation_mode=generation)
    checks = _checks()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data):
        case = data.draw(strategy)
        case.call_and_validate(checks=checks)

    run()
