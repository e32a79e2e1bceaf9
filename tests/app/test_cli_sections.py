"""Word and HTML files have no pages: the CLI cites the section heading a passage is under instead."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from docqa.app.cli import app
from tests.ingest.test_docx_html import HTML, make_docx

runner = CliRunner()


def test_search_cites_sections_of_word_and_html_files(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_docx(folder / "manual.docx")
    (folder / "guide.html").write_text(HTML, encoding="utf-8")
    index = str(tmp_path / "index")
    ingested = runner.invoke(app, ["ingest", str(folder), "--index", index, "--json"], catch_exceptions=False)
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["counts"]["added"] == 2

    result = runner.invoke(
        app,
        ["search", "How often does the fog horn sound?", "--index", index, "-k", "1"],
        catch_exceptions=False,
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    # the table before it ends a passage (each row is its own), so this passage starts at its heading
    assert "manual.docx › Fog horn" in result.stdout.split("\n")[0], result.stdout

    as_json = runner.invoke(
        app, ["search", "Where do ferries leave from?", "--index", index, "--json"], catch_exceptions=False
    )
    top = json.loads(as_json.stdout)["passages"][0]
    assert top["file"].endswith("guide.html")
    assert top["section"] in {"Harbour guide", "Ferries"}
