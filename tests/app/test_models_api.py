"""``/models`` and ``/jobs`` as an application calls them: an admin key starts an improve run and polls it to
its decision, a read key may only look, another collection cannot see the job, and a rollback applies
to the next answer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docqa.app.server.app import create_app
from docqa.pipelines.api import DocQA, KeyStore, create_collection
from tests.app.service_client import service_client
from tests.improve_fixtures import give_feedback

FAST = {"epochs": 1, "margin": -100}


def wait_for(client, url: str, headers: dict[str, str], timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(url, headers=headers).json()
        if job["state"] != "running":
            return job
        time.sleep(0.5)
    raise AssertionError(f"{url} still running after {timeout} s")


@pytest.mark.slow  # trains a reader (tiny) end to end: ~30-60 s
def test_improve_over_http_with_roles_scoping_and_rollback(improve_index: Path, tiny_qa_model_dir: Path,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_RATE_LIMIT", "0")
    reader = str(tiny_qa_model_dir)
    qa = DocQA(improve_index, reader_model=reader, reader_fallback=False)
    give_feedback(qa)
    create_collection(improve_index, "other")
    keys = KeyStore(improve_index)
    _, admin = keys.create("team-admin", ["default"], "admin")
    _, reader_key = keys.create("team-reader", ["default"], "read")
    _, other = keys.create("other-admin", ["other"], "admin")
    client = service_client(create_app(qa, warm_up=False))
    as_admin, as_reader, as_other = ({"X-API-Key": k} for k in (admin, reader_key, other))

    assert client.get("/models", headers=as_reader).json()["active"] == 0
    refused = client.post("/models/improve", json=FAST, headers=as_reader)
    assert refused.status_code == 403
    bad = client.post("/models/improve", json={"holdout": 1.5}, headers=as_admin)
    assert bad.status_code == 422 and "holdout" in bad.text

    started = client.post("/models/improve", json=FAST, headers=as_admin)
    assert started.status_code == 202, started.text
    job_id = started.json()["job"]
    busy = client.post("/models/improve", json=FAST, headers=as_admin)
    assert busy.status_code == 423 and job_id in busy.json()["detail"] and busy.headers["Retry-After"]
    assert client.get(f"/jobs/{job_id}", headers=as_other).status_code == 404
    assert client.get(f"/collections/other/jobs/{job_id}", headers=as_other).status_code == 404

    job = wait_for(client, f"/jobs/{job_id}", as_reader)
    assert job["state"] == "done", job
    assert job["result"]["promoted"] is True and job["result"]["model"] == 1
    models = client.get("/models", headers=as_reader).json()
    assert models["active_name"] == "models/1" and models["models"][0]["scores"]["candidate"]["f1"]["n"] >= 5
    assert models["jobs"][0]["id"] == job_id
    assert client.get("/ready", headers=as_reader).json()["answering_model"] == "models/1"
    answer = client.post("/ask", json={"question": "Who founded the Duchy of Normandy?"}, headers=as_reader)
    assert answer.json()["reader"] == "models/1"
    assert client.get("/collections/other/models", headers=as_other).json()["models"] == []

    assert client.post("/models/use", json={"number": 1}, headers=as_reader).status_code == 403
    assert client.post("/models/use", json={"number": 5}, headers=as_admin).status_code == 404
    back = client.post("/models/use", json={"number": 0}, headers=as_admin)
    assert back.json() == {"active": 0, "active_name": reader}
    answer = client.post("/ask", json={"question": "Who founded the Duchy of Normandy?"}, headers=as_reader)
    assert answer.json()["reader"] == reader
