"""Tags given to ``docqa ingest --tag``: parsed into numbers or text, refused with the tag named."""

from __future__ import annotations

import pytest

from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile
from docqa.ingest.tags import check_kinds, parse_tags


def test_tags_parse_numbers_as_numbers_and_keep_text() -> None:
    assert parse_tags(["team=legal", "year=2024", "grade=1.5", "code=00x"]) == {
        "team": "legal",
        "year": 2024,
        "grade": 1.5,
        "code": "00x",
    }


@pytest.mark.parametrize(
    ("items", "named"),
    [(["team"], "team"), (["title=x"], "title"), (["bad key=1"], "bad key"), (["team="], "team")],
)
def test_a_bad_tag_is_refused_naming_it(items: list[str], named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        parse_tags(items)


def test_a_tag_keeps_one_kind_across_the_index() -> None:
    indexed = SourceFile("k", "a.txt", "", "text", "0", 1, 0, [1], [], "", tags={"year": 2023})
    check_kinds({"year": 2024}, [indexed])
    with pytest.raises(InvalidInputError, match="year.*number"):
        check_kinds({"year": "unknown"}, [indexed])


def test_a_sidecar_tags_yaml_tags_files_beside_it(tmp_path) -> None:
    from tests.pipelines.document_stores.test_store_contract import bundle, ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt"):
        (docs / name).write_text(f"The file {name} talks about harbours and lighthouses. " * 5)
    (docs / "tags.yaml").write_text('"*.txt": {team: legal}\nb.txt: {year: 2024}\n')
    store = bundle("local", tmp_path)
    report = ingest(store, docs)
    assert sorted(r.status for r in report.results) == ["added", "added"]  # tags.yaml is no document
    tags = {s.file_name: s.tags for s in store.catalog.files().values()}
    assert tags == {"a.txt": {"team": "legal"}, "b.txt": {"team": "legal", "year": 2024}}
    (docs / "tags.yaml").write_text("b.txt: {year: 2024, title: x}\n")
    with pytest.raises(InvalidInputError, match=r"tags\.yaml: b\.txt: tag 'title'"):
        ingest(store, docs)
