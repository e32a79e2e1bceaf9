"""The page's Quality view (AppTest, the real page script): which reader answers, the score history chart,
feedback per day, the improve button running in the background to its decision, and the switch back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docqa.pipelines.api import DocQA, GateSettings, ImproveSettings
from tests.conftest import REPO
from tests.improve_fixtures import give_feedback

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
PAGE = str(REPO / "app" / "ui" / "page.py")


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def quality(at) -> None:
    at.segmented_control(key="view").set_value("Quality").run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.slow  # trains a reader (tiny) end to end: ~30-60 s
def test_quality_view_shows_history_runs_improve_and_switches_back(
    improve_index: Path, tiny_qa_model_dir: Path, monkeypatch, tmp_path: Path
) -> None:
    reader = str(tiny_qa_model_dir)
    for name, value in {"DOCQA_INDEX": str(improve_index), "DOCQA_READER_MODEL": reader,
                        "DOCQA_READER_FALLBACK": "0", "DOCQA_CONFIG": str(tmp_path / "config.json")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DOCQA_API_KEY", raising=False)
    qa = DocQA(improve_index, reader_model=reader, reader_fallback=False)
    given = give_feedback(qa)
    qa.improve(ImproveSettings(epochs=1, gate=GateSettings(margin=-100)))

    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    quality(at)
    shown = texts(at.markdown)
    assert "Answering now: **models/1**" in shown and f"{given} record(s)" in shown
    assert len(at.get("arrow_line_chart")) + len(at.get("vega_lite_chart")) >= 1
    assert at.dataframe[0].value["#"].tolist() == [1]

    at.button(key="improve-start").click().run()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (at.success or at.info or at.error):
        time.sleep(1.0)
        at.run()
    decision = texts(at.success) + texts(at.info)
    assert "held-out F1" in decision, (decision, texts(at.error))
    assert qa.improve_jobs().recent(1)[0]["state"] == "done"

    at.selectbox[0].set_value(0)
    at.button(key="FormSubmitter:use-model-Switch").click().run()
    assert qa.models()["active"] == 0
    assert "Answering now: **" + reader in texts(at.markdown)
