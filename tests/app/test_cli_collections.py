"""`docqa collections list|create|delete` and `--collection` on the commands that read and write documents,
as a user runs them: one clear `error:` line for a missing collection, `--yes` before a delete, and
`docqa migrate` carrying every collection to Milvus."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from docqa.app.cli import app
from tests.conftest import SAMPLES
from tests.pipelines.document_stores.test_store_contract import needs_milvus_lite

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_collections_end_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_STORE", "local")
    index = str(tmp_path / "index")
    missing = run("ingest", str(SAMPLES / "normans.txt"), "--index", index, "--collection", "hr")
    assert missing.exit_code == 2 and "docqa collections create hr" in missing.output
    assert run("collections", "create", "hr", "--index", index).exit_code == 0
    bad = run("collections", "create", "Bad Name", "--index", index)
    assert bad.exit_code == 2 and "collection name" in bad.output
    assert run("ingest", str(SAMPLES / "normans.txt"), "--index", index, "-c", "hr", "--json").exit_code == 0
    assert run("ingest", str(SAMPLES / "steam_engine.md"), "--index", index, "--json").exit_code == 0

    listed = json.loads(run("collections", "list", "--index", index, "--json").stdout)
    assert [(c["name"], c["documents"]) for c in listed] == [("default", 1), ("hr", 1)]
    docs = json.loads(run("documents", "--index", index, "--collection", "hr", "--json").stdout)
    assert [Path(d["file"]).name for d in docs] == ["normans.txt"]
    found = json.loads(run("search", "steam engine boiler", "--index", index, "-c", "hr", "--json").stdout)
    assert {Path(p["file"]).name for p in found["passages"]} == {"normans.txt"}

    refused = run("collections", "delete", "hr", "--index", index)
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert json.loads(run("collections", "list", "--index", index, "--json").stdout)[1]["name"] == "hr"
    assert run("collections", "delete", "hr", "--index", index, "--yes").exit_code == 0
    assert [c["name"] for c in json.loads(run("collections", "list", "--index", index, "--json").stdout)] == [
        "default"
    ]
    gone = run("search", "x", "--index", index, "--collection", "hr")
    assert gone.exit_code == 2 and "No collection 'hr'" in gone.output


@needs_milvus_lite
def test_migrate_carries_every_collection(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_STORE", "local")
    index = str(tmp_path / "index")
    assert run("collections", "create", "hr", "--index", index).exit_code == 0
    assert run("ingest", str(SAMPLES / "normans.txt"), "--index", index, "-c", "hr", "--json").exit_code == 0
    assert run("ingest", str(SAMPLES / "steam_engine.md"), "--index", index, "--json").exit_code == 0
    target = f"milvus-lite://{tmp_path / 'm.db'}"
    moved = run("migrate", "--to", target, "--index", index)
    assert moved.exit_code == 0, moved.output
    said = " ".join(moved.output.split())  # rich wraps long lines
    assert "of collection default" in said and "of collection hr" in said and "docqa__hr" in said
    for collection, expected in (("default", ["steam_engine.md"]), ("hr", ["normans.txt"])):
        out = run("--store", target, "documents", "--index", index, "-c", collection, "--json")
        assert [Path(d["file"]).name for d in json.loads(out.stdout)] == expected, (collection, out.output)


def test_keys_and_audit_commands(tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    assert run("collections", "create", "faq", "--index", index).exit_code == 0
    made = run("keys", "create", "--name", "billing-app", "--collections", "faq", "--role", "read",
               "--index", index, "--json")
    assert made.exit_code == 0, made.output
    secret = json.loads(made.stdout)["key"]
    stored = (tmp_path / "index" / "access" / "keys.json").read_text()
    assert secret.startswith("dqa_") and secret not in stored
    listed = json.loads(run("keys", "list", "--index", index, "--json").stdout)
    assert [(k["name"], k["role"], k["collections"]) for k in listed] == [("billing-app", "read", ["faq"])]
    assert "key" not in listed[0]
    bad = run("keys", "create", "--name", "x", "--collections", "faq", "--role", "owner", "--index", index)
    assert bad.exit_code == 2 and "role" in bad.output
    assert run("keys", "revoke", "billing-app", "--index", index).exit_code == 0
    again = run("keys", "revoke", "billing-app", "--index", index)
    assert again.exit_code == 2 and "No active key" in again.output
    audit = json.loads(run("audit", "tail", "--index", index, "--json").stdout)
    assert [a["action"] for a in audit] == ["docqa keys create", "docqa keys revoke"]
    assert all(secret not in json.dumps(a) for a in audit)
    assert json.loads(run("audit", "tail", "--index", index, "--key", "nobody", "--json").stdout) == []
    since = run("audit", "tail", "--index", index, "--since", "yesterday")
    assert since.exit_code == 2 and "--since 'yesterday'" in since.output
