"""The page's filter panel ("Search within"): built from the index's metadata, applied to the question,
said in the answer's header ("Searched 1 of 3 documents") and kept in the address for sharing."""

from __future__ import annotations

import json

import pytest

from tests.app.test_ui import ask, htmls, page_env, start, texts  # noqa: F401 - page_env is a fixture

pytest.importorskip("streamlit.testing.v1")


def test_the_panel_narrows_the_search_and_the_link_keeps_it(page_env, sample_index, tmp_path):  # noqa: F811
    page_env(sample_index, tmp_path / "no-reader")  # no reader: the passages read are shown with a banner
    at = start()
    at.sidebar.multiselect(key="filter_file_type").set_value(["pdf"]).run()
    link = at.query_params["f"]
    assert json.loads(link[0] if isinstance(link, list) else link) == {"file_type": ["pdf"]}
    ask(at, "Who improved the steam engine?")
    assert "Searched 1 of 3 documents" in texts(at.caption)
    passages = [b for b in htmls(at) if 'class="docqa-passage"' in b]
    assert passages and all("packet_switching.pdf" in p for p in passages)


def test_a_shared_link_opens_with_the_same_filters(page_env, sample_index, tmp_path):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    from tests.app.test_ui import PAGE, TIMEOUT

    page_env(sample_index, tmp_path / "no-reader")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["f"] = json.dumps({"file_type": ["md", "nope"]})
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect(key="filter_file_type").value == ["md"]  # unknown values dropped


def test_uploads_take_tags_and_the_list_shows_them(page_env, sample_index, tmp_path):  # noqa: F811
    import shutil

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    page_env(index, tmp_path / "no-reader")
    at = start()
    note = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"
    at.sidebar.get("file_uploader")[0].upload("harbour.txt", note, "text/plain")
    at.sidebar.text_input(key="upload_tags").set_value("title=x")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    at.run()
    assert "title" in texts(at.sidebar.error) and "4 documents" not in texts(at.sidebar.markdown)
    at.sidebar.get("file_uploader")[0].upload("harbour.txt", note, "text/plain")
    at.sidebar.text_input(key="upload_tags").set_value("team=ops, year=2024")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    at.run()
    assert not at.exception
    listed = next(e for e in at.sidebar.expander if e.label == "harbour.txt")
    assert "Tags: team=ops, year=2024" in texts(listed.caption)
