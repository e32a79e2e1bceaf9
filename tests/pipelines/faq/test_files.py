"""FAQ files: every problem of a CSV/JSON/YAML file is reported with its file, row or entry, and field."""

from __future__ import annotations

import json

import pytest

from docqa.pipelines.faq.files import FaqFileError, parse_faq, read_faq, read_faq_file
from tests.pipelines.components.faq.helpers import SUPPORT_FAQ

# ---------------------------------------------------------------- parsing and validation


def test_csv_with_header_in_any_case_extra_columns_and_blank_lines():
    data = (
        b"Question,Answer,Owner\n"
        b"How do I reset my password?,\"Open Settings, then Account.\",ops\n"
        b"\n"
        b"Which file types can I upload?,PDF and text files.,docs\n"
    )
    entries = parse_faq(data, "faq.csv")
    assert [e.question for e in entries] == ["How do I reset my password?", "Which file types can I upload?"]
    assert entries[0].answer == "Open Settings, then Account."


def test_csv_semicolons_and_windows_1252_bytes_are_read():
    data = "question;answer\nWhere is the café?;Next to the gare.\n".encode("cp1252")
    (entry,) = parse_faq(data, "faq.csv")
    assert entry.question == "Where is the café?"
    assert entry.answer == "Next to the gare."


def test_csv_errors_name_the_file_row_and_field_and_all_are_reported():
    data = (
        b"question,answer\n"
        b"How do I reset my password?,Open Settings.\n"
        b"Which file types can I upload?,\n"
        b",An answer without a question.\n"
        b"how do I reset my password,A second answer to the same question.\n"
    )
    with pytest.raises(FaqFileError) as caught:
        parse_faq(data, "support/faq.csv")
    err = caught.value
    assert err.problems == [
        "row 3: field 'answer' is empty",
        "row 4: field 'question' is empty",
        "row 5: duplicate question (same as row 2): 'how do I reset my password'",
    ]
    assert str(err).startswith("support/faq.csv: 3 problems; nothing was loaded")


def test_csv_without_the_columns_says_which_are_missing():
    with pytest.raises(FaqFileError, match=r"(?s)faq.csv: .*row 1 \(header\): no column named 'answer'"):
        parse_faq(b"question,reply\nA?,B\n", "faq.csv")


def test_json_list_and_wrapped_list():
    listed = json.dumps(SUPPORT_FAQ).encode()
    wrapped = json.dumps({"faq": SUPPORT_FAQ}).encode()
    assert parse_faq(listed, "faq.json") == parse_faq(wrapped, "faq.json")
    assert len(parse_faq(listed, "faq.json")) == 3


def test_json_errors_name_entry_and_field():
    data = json.dumps([
        {"question": "Fine?", "answer": "Yes."},
        {"question": 42, "answer": "Numbers are not questions."},
        "just a string",
        {"question": "No answer?"},
    ]).encode()
    with pytest.raises(FaqFileError) as caught:
        parse_faq(data, "faq.json")
    assert caught.value.problems == [
        "entry 2: field 'question' must be text, not int",
        "entry 3: expected an object with 'question' and 'answer', found str",
        "entry 4: field 'answer' is missing",
    ]


def test_invalid_json_and_yaml_report_line_and_column():
    with pytest.raises(FaqFileError, match=r"(?s)faq.json: .*line 2, column \d+: invalid JSON"):
        parse_faq(b'[{"question": "A?",\n "answer": }]', "faq.json")
    with pytest.raises(FaqFileError, match=r"(?s)faq.yaml: .*line \d+, column \d+: invalid YAML"):
        parse_faq(b"- question: A?\n  answer: [unclosed\n", "faq.yaml")


def test_yaml_list_is_read():
    data = (
        b"- question: How do I reset my password?\n  answer: Open Settings.\n"
        b"- question: Q2?\n  answer: A2.\n"
    )
    assert [e.answer for e in parse_faq(data, "faq.yml")] == ["Open Settings.", "A2."]


def test_unsupported_type_binary_empty_and_overlong_are_refused(tmp_path):
    with pytest.raises(FaqFileError, match="unsupported FAQ file type '.txt'"):
        parse_faq(b"question,answer\nA?,B\n", "faq.txt")
    with pytest.raises(FaqFileError, match="binary data"):
        parse_faq(b"question,answer\n\x00\x01\x02", "faq.csv")
    with pytest.raises(FaqFileError, match="the file is empty"):
        parse_faq(b"  \n", "faq.csv")
    with pytest.raises(FaqFileError, match=r"entry 1: field 'question' is 1001 characters \(at most 1000\)"):
        parse_faq(json.dumps([{"question": "x" * 1001, "answer": "a"}]).encode(), "faq.json")
    with pytest.raises(FaqFileError, match="no such file"):
        read_faq_file(tmp_path / "missing.csv")


def test_read_faq_takes_a_path_or_bytes_and_reports_the_file_name(tmp_path):
    path = tmp_path / "support" / "faq.json"
    path.parent.mkdir()
    path.write_text(json.dumps(SUPPORT_FAQ), encoding="utf-8")
    from_path, label = read_faq(path)
    assert label == "faq.json" and len(from_path) == 3
    from_bytes, label = read_faq(path.read_bytes(), name="upload/faq.json")
    assert label == "faq.json" and from_bytes == from_path
    with pytest.raises(FaqFileError, match="(?s)upload.yaml: .*invalid YAML"):
        read_faq(b"- question: [unclosed\n", name="upload.yaml")


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "deep.json"),  # the probe's file: RecursionError, a 500
        (b'[{"question": "A?", "answer": ' + b"[" * 5_000 + b"]" * 5_000 + b"}]", "inner.json"),
        (b"- " * 5_000 + b"x\n", "deep.yaml"),
        (b"[" * 20_000 + b"]" * 20_000, "flow.yaml"),
    ],
    ids=["json-200k", "json-inside-an-entry", "yaml-block", "yaml-flow"],
)
def test_an_faq_file_nested_too_deeply_is_one_problem_not_a_recursion_error(data: bytes, name: str):
    with pytest.raises(FaqFileError) as caught:
        parse_faq(data, name)
    assert caught.value.problems == [
        "nested too deeply to be an FAQ file (a list of {question, answer} entries is 2-3 levels deep)"
    ]
    assert str(caught.value).startswith(f"{name}: 1 problem; nothing was loaded")
