"""`docqa ingest --tag`, `docqa documents` showing metadata and tags, `--filter` on search and ask, and a
bad filter or tag as one `error:` line with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from tests.conftest import SAMPLES

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def tagged(sample_index: Path, tmp_path: Path) -> str:
    """The samples' index with normans.txt tagged (a metadata update: nothing is re-embedded)."""
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    out = run("ingest", str(SAMPLES / "normans.txt"), "--index", str(index), "--tag", "team=history",
              "--tag", "year=2024", "--json")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["passages_embedded"] == 0
    return str(index)


def test_documents_show_metadata_and_tags(tagged: str) -> None:
    rows = json.loads(run("documents", "--index", tagged, "--json").stdout)
    listed = {Path(d["file"]).name: d for d in rows}
    assert listed["normans.txt"]["tags"] == {"team": "history", "year": 2024}
    pdf = listed["packet_switching.pdf"]["metadata"]
    assert (pdf["file_type"], pdf["page_count"]) == ("pdf", 6) and pdf["size"] > 0
    table = runner.invoke(app, ["documents", "--index", tagged], env={"COLUMNS": "250"}).stdout
    assert "team=history" in table and "year=2024" in table
    fields = json.loads(run("documents", "--index", tagged, "--fields", "--json").stdout)
    assert fields["year"] == "number" and fields["team"] == "text" and fields["modified"] == "date"


def test_search_filters_in_the_short_form(tagged: str) -> None:
    question = "Watt steam engine separate condenser"
    out = run("search", question, "--index", tagged, "--json", "--filter", "file_type in [pdf, txt]")
    files = {Path(p["file"]).name for p in json.loads(out.stdout)["passages"]}
    assert files and files <= {"packet_switching.pdf", "normans.txt"}
    out = run("search", question, "--index", tagged, "--json", "--filter", "year >= 2020",
              "--filter", "team == history")  # fmt: skip
    files = {Path(p["file"]).name for p in json.loads(out.stdout)["passages"]}
    assert files == {"normans.txt"}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--filter", "colour == red"], "unknown field 'colour'"),
        (["--filter", "year >= recent"], "year"),
        (["--filter", "folder in legal"], "'folder in legal'"),
        (["--filter", "file_type pdf"], "'file_type pdf'"),
    ],
)
def test_a_bad_filter_is_one_error_line_and_exit_2(tagged: str, args: list[str], named: str) -> None:
    out = run("search", "steam", "--index", tagged, *args)
    assert out.exit_code == 2
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and named in " ".join(lines)


def test_a_bad_tag_is_one_error_line_and_exit_2(tagged: str) -> None:
    out = run("ingest", str(SAMPLES / "normans.txt"), "--index", tagged, "--tag", "page=3")
    assert out.exit_code == 2 and out.output.startswith("error:") and "page" in out.output
