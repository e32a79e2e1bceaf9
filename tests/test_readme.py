"""The README's Python example runs as written (against a temporary index)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

# Slow: the README example ingests the samples into a new index (embedding ~90 passages).
pytestmark = pytest.mark.slow


def test_readme_python_example_runs(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_READER_FALLBACK", "1")  # as on a fresh machine: the compact reader answers
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", readme, flags=re.S).group(1)
    assert 'DocQA("./docqa-index")' in block
    code = block.replace('"./docqa-index"', repr(str(tmp_path / "index")))
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "normans.txt" in out  # an answer's source and a search hit
    assert "compact offline reader" in out  # the answers are labelled as the compact reader's
