"""Property test of the HTTP API against its own OpenAPI schema (schemathesis + hypothesis), bounded.

For every operation in ``/openapi.json`` schemathesis generates requests that follow the schema
(positive) and requests that violate it (negative). Checked: the service never answers with a server
error, every status code it sends is documented, responses match their declared schema and content type,
and schema-violating requests are rejected with 4xx. The reader is a tiny random QA model, so each /ask
takes milliseconds; the whole run is about 90 requests and stays well under a minute.

Schemathesis's own pytest plugin does not run under this pytest, so its strategies are driven with
hypothesis directly (``operation.as_strategy``), derandomised: CI failures reproduce locally. The
schema-driven requests are sent as a program on this machine sends them (``X-Requested-With``; the ASGI
host ``testserver`` allowed as ``--allowed-host`` would); the same requests sent from another site's page
(``Origin: http://evil.example``, no header) must all be refused with 403.

Beyond the schema, JSON that strict JSON forbids but Python's parser accepts — ``NaN``, ``Infinity``, lone
surrogates (``"\\ud800"``) — in every field of every JSON operation, and bodies that are not JSON at all:
the answer is always a 4xx whose body is strict UTF-8 JSON (the attack probe of issue 27 got 500s: the
validation error handler itself could not serialise them).
"""

from __future__ import annotations

import json
import math

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Slow: schemathesis fuzzes every operation (~120 requests, some reading answers).
pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 5  # (11 positive + 7 negative + 6 cross-site) x 5 = at most 120 requests
PROGRAM = {"X-Requested-With": "schemathesis"}
CROSS_SITE = {"Origin": "http://evil.example"}

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
    "GET /models",
    "POST /models/improve",
    "GET /jobs/{job_id}",
    "POST /models/use",
]
# Operations that take input; the others have nothing a request could get wrong.
WITH_INPUT = [
    "POST /ask", "POST /search", "POST /documents", "DELETE /documents/{doc_id}", "POST /faq",
    "POST /feedback", "GET /feedback", "POST /models/improve", "GET /jobs/{job_id}", "POST /models/use",
]
WRITES = [label for label in OPERATIONS if label.split()[0] in ("POST", "DELETE")]
CASES = (
    [(label, "positive") for label in OPERATIONS]
    + [(label, "negative") for label in WITH_INPUT]
    + [(label, "cross-site") for label in WRITES]
)


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
    app = create_app(
        qa, max_upload_bytes=64 * 1024, lock_timeout=1.0, warm_up=False, allowed_hosts=["testserver"]
    )
    app.state.ready.load(qa)  # what the start-up warm-up does in a thread; /ready is then 200
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_fuzzed(fuzz_schema):
    """The list below must follow the API: a new endpoint has to be added to the fuzz run."""
    labels = {result.ok().label for result in fuzz_schema.get_all_operations()}
    # /collections/{collection}/... are the same endpoints behind the access check (test_access_scoping);
    # /collections and /keys are the access routes, tested there too.
    own = {label for label in labels if not label.split()[1].startswith(("/collections", "/keys"))}
    assert own == set(OPERATIONS)
    assert {label for label in labels - own if "{collection}" in label} == {
        label.replace(" /", " /collections/{collection}/") for label in OPERATIONS if label != "GET /health"}


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
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
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
        if mode == "cross-site":  # whatever the request holds, another site's page may not send it
            response = case.call(headers=CROSS_SITE)
            assert response.status_code == 403, response.text
            assert "Cross-site request refused" in response.json()["detail"]
        else:
            case.call_and_validate(checks=checks, headers=PROGRAM)

    run()


# ------------------------------------------------------------------ JSON that strict JSON does not allow

JSON_OPERATIONS = {
    "/ask": {"question": "Who lit the lamp?", "top_k": 3, "max_answers": 2},
    "/search": {"query": "lighthouse", "top_k": 3, "mode": "hybrid"},
    "/feedback": {
        "question": "Who lit the lamp?", "passage_id": "p", "verdict": "wrong", "answer_start": 0,
        "answer_end": 4, "correct_answer": "Marta", "comment": "ok",
    },
}  # fmt: skip
HOSTILE_VALUES = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e400": "1e400",  # Python's parser makes it inf
    "lone surrogate": '"\\ud800"',
    "reversed pair": '"a\\udc00\\ud800b"',
    "surrogate in a list": '["x", "\\udfff"]',
    "NaN in an object": '{"k": NaN}',
}


def strict_json(response) -> object:
    """The response body as strict JSON: UTF-8, no NaN or Infinity (what every JSON client can parse)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"the response holds {constant}: not JSON")

    return json.loads(response.content.decode("utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def client(fuzz_schema):
    from tests.app.service_client import service_client

    return service_client(fuzz_schema.app)


@pytest.mark.parametrize("value", list(HOSTILE_VALUES), ids=list(HOSTILE_VALUES))
@pytest.mark.parametrize(
    ("path", "field"), [(path, field) for path, body in JSON_OPERATIONS.items() for field in body]
)
def test_nan_infinity_and_surrogates_in_any_field_are_a_422_in_strict_json(client, path, field, value):
    fields = [
        f"{json.dumps(name)}: {HOSTILE_VALUES[value] if name == field else json.dumps(v)}"
        for name, v in JSON_OPERATIONS[path].items()
    ]
    body = ("{" + ", ".join(fields) + "}").encode("ascii")
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    problems = strict_json(response)["detail"]
    assert any(problem["loc"][:2] == ["body", field] for problem in problems), problems


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"\xff\xfe{}"),  # not UTF-8
        ("application/json", b"[" * 100_000 + b"]" * 100_000),  # deeper than any parser recurses
        ("text/plain", b"\xff{\"question\": NaN}"),  # not JSON at all, echoed back as the input
        ("application/json", b'"\\ud800"'),
    ],
    ids=["not-utf8", "deep", "text-not-utf8", "bare-surrogate"],
)
def test_bodies_that_are_not_json_are_a_422_in_strict_json(client, content_type, body):
    for path in JSON_OPERATIONS:
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 422, (path, response.text)
        strict_json(response)


HOSTILE_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, categories=("Cs", "Lo", "Ll", "Nd", "Zs")), max_size=8)
)
HOSTILE_JSON = st.recursive(
    HOSTILE_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("path", list(JSON_OPERATIONS))
def test_any_value_in_any_field_never_breaks_the_service(client, path):
    """Property: whatever values (NaN, surrogates, nesting...) replace a request's fields, the service
    answers with a status below 500 and a strict JSON body."""
    names = st.sampled_from(list(JSON_OPERATIONS[path]))

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(changes=st.dictionaries(names, HOSTILE_JSON, min_size=1, max_size=3))
    def run(changes):
        body = {**JSON_OPERATIONS[path], **changes}
        raw = json.dumps(body, allow_nan=True, ensure_ascii=True).encode("ascii")
        response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, response.text
        strict_json(response)
        finite = all(not isinstance(v, float) or math.isfinite(v) for v in changes.values())
        assert response.status_code != 200 or finite

    run()
