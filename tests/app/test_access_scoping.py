"""One service, many teams: every route, every key, every collection — nothing of a collection outside a key's
scope is returned, counted or named, and a missing collection looks exactly like a forbidden one.

The index holds four collections, each with a document carrying a marker word of its own; a response that
contains another collection's marker (in passages, listings, counts' files, errors) is a leak.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docqa.app.server.app import create_app
from docqa.pipelines.api import DocQA, KeyStore, create_collection
from tests.app.service_client import service_client
from tests.pipelines.document_stores.test_store_contract import needs_milvus_lite

MARKERS = {"default": "ibexword", "faq": "zebraword", "hr": "quokkaword", "eng": "narwhalword"}
COLLECTIONS = list(MARKERS)
NUMBERS = itertools.count()
READ_ROUTES = [("GET", "/documents", None), ("GET", "/faq", None), ("GET", "/feedback", None),
               ("GET", "/ready", None), ("GET", "/models", None),
               ("POST", "/search", {"query": "Which animal word is here?"}),
               ("POST", "/ask", {"question": "Which animal word is here?"})]


@pytest.fixture(scope="module", params=["local", pytest.param("milvus-lite", marks=[needs_milvus_lite,
                                                                                  pytest.mark.slow])])
def store(request, tmp_path_factory) -> str:
    """Both stores: one Milvus collection per DocQA collection must isolate as the local folders do."""
    if request.param == "local":
        return "local"
    return f"milvus-lite://{tmp_path_factory.mktemp('milvus') / 'teams.db'}"


@pytest.fixture(scope="module")
def index(tmp_path_factory, store: str) -> Path:
    root = tmp_path_factory.mktemp("teams") / "index"
    docs = root.parent / "docs"
    for name, marker in MARKERS.items():
        if name != "default":
            create_collection(root, name)
        folder = docs / name
        folder.mkdir(parents=True)
        (folder / f"{name}-notes.txt").write_text(
            f"The {name} team keeps this note. The secret animal word of this team is {marker}. "
            f"Only the {name} team may read about the {marker}.", encoding="utf-8")
        assert DocQA(root, collection=name, store=store).ingest([folder]).ok
    return root


@pytest.fixture(scope="module")
def client(index: Path, store: str, tmp_path_factory):
    qa = DocQA(index, reader_model=str(tmp_path_factory.mktemp("none") / "no-reader"), store=store)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCQA_RATE_LIMIT", "0")  # hundreds of requests per example: limits tested below
        app = create_app(qa, api_key="main-admin-key", warm_up=False)
    return service_client(app)


def leaks(text: str, allowed: set[str]) -> list[str]:
    return [name for name, marker in MARKERS.items() if name not in allowed and marker in text]


def call(client, method: str, path: str, body, key: str):
    headers = {"X-API-Key": key}
    return client.request(method, path, json=body, headers=headers)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=st.sets(st.sampled_from(COLLECTIONS), min_size=1, max_size=3),
       role=st.sampled_from(["read", "write", "admin"]))
def test_no_key_sees_counts_or_names_another_collection(client, index, scope, role) -> None:
    store = KeyStore(index)
    name = f"k{next(NUMBERS)}"
    _, key = store.create(name, sorted(scope), role)
    try:
        listed = call(client, "GET", "/collections", None, key)
        assert listed.status_code == 200
        assert sorted(c["name"] for c in listed.json()["collections"]) == sorted(scope)
        nowhere = call(client, "GET", "/collections/nosuchteam/documents", None, key)
        for collection in COLLECTIONS:
            for method, route, body in READ_ROUTES:
                paths = [f"/collections/{collection}{route}"] + ([route] if collection == "default" else [])
                for path in paths:
                    response = call(client, method, path, body, key)
                    assert not leaks(response.text, set(scope)), (path, scope, response.text[:300])
                    if collection in scope:
                        assert response.status_code in (200, 503), (path, response.text[:300])
                    else:  # forbidden looks exactly like missing: no name, no count, no difference
                        assert response.status_code == 404
                        assert response.json()["detail"].replace(collection, "X") == \
                            nowhere.json()["detail"].replace("nosuchteam", "X")
        for collection in scope:
            docs = call(client, "GET", f"/collections/{collection}/documents", None, key).json()
            assert len(docs["documents"]) == 1 and MARKERS[collection] not in str(leaks(str(docs), scope))
            for other in set(COLLECTIONS) - scope:  # another collection's document id through an allowed one
                other_ids = [d["id"] for d in call(client, "GET", f"/collections/{other}/documents", None,
                                                   "main-admin-key").json()["documents"]]
                response = call(client, "DELETE", f"/collections/{collection}/documents/{other_ids[0]}",
                                None, key)
                assert response.status_code in (403, 404) and not leaks(response.text, set(scope))
    finally:
        store.revoke(name)


def test_roles_revocation_wrong_keys_and_admin_routes(client, index) -> None:
    store = KeyStore(index)
    _, reader = store.create("reader", ["faq"], "read")
    _, writer = store.create("writer", ["faq"], "write")
    _, faq_admin = store.create("faq-admin", ["faq"], "admin")
    upload = {"files": ("new.txt", b"The faq team adds a zebraword note.", "text/plain")}
    assert client.post("/collections/faq/documents", files=upload,
                       headers={"X-API-Key": reader}).status_code == 403
    done = client.post("/collections/faq/documents", files=upload, headers={"X-API-Key": writer})
    assert done.status_code == 200, done.text
    assert call(client, "GET", "/keys", None, writer).status_code == 403
    assert call(client, "POST", "/keys", {"name": "x", "collections": ["hr"], "role": "read"},
                faq_admin).status_code == 403  # an admin of faq alone must not mint a key for hr
    created = call(client, "POST", "/keys", {"name": "made", "collections": ["eng"], "role": "read"},
                   "main-admin-key")
    assert created.status_code == 201 and created.json()["key"].startswith("dqa_")
    made = created.json()["key"]
    assert call(client, "GET", "/collections/eng/documents", None, made).status_code == 200
    assert call(client, "DELETE", "/keys/made", None, "main-admin-key").status_code == 200
    assert call(client, "GET", "/collections/eng/documents", None, made).status_code == 401  # next request
    wrong = reader[:-1] + ("Q" if reader[-1] != "Q" else "R")  # one character off, never the key itself
    assert call(client, "GET", "/documents", None, wrong).status_code == 401
    assert call(client, "GET", "/documents", None, "").status_code == 401
    for name in ("reader", "writer", "faq-admin"):
        store.revoke(name)


def test_keys_never_reach_the_logs_or_the_audit_log(client, index, caplog) -> None:
    store = KeyStore(index)
    _, key = store.create("quiet", ["hr"], "read")
    with caplog.at_level(logging.DEBUG):
        call(client, "POST", "/collections/hr/search", {"query": "secret word?"}, key)
        call(client, "GET", "/collections/faq/documents", None, key)
        call(client, "GET", "/documents", None, key + "x")
    audit = (index / "audit.jsonl").read_text()
    assert key not in audit and key not in caplog.text and "main-admin-key" not in audit
    lines = [line for line in audit.splitlines() if '"quiet"' in line]
    assert any('"POST /collections/hr/search"' in x and '"hr"' in x and "secret word?" in x for x in lines)
    assert any('"status": 404' in x for x in lines)
    store.revoke("quiet")


def test_rate_limit_answers_429_with_retry_after(index, store, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DOCQA_RATE_LIMIT", "3")
    qa = DocQA(index, reader_model=str(tmp_path / "no-reader"), store=store)
    limited = service_client(create_app(qa, api_key="main-admin-key", warm_up=False))
    codes = [call(limited, "GET", "/documents", None, "main-admin-key") for _ in range(5)]
    assert [c.status_code for c in codes][:3] == [200, 200, 200]
    assert codes[-1].status_code == 429 and int(codes[-1].headers["Retry-After"]) >= 1
