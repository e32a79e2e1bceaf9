"""Every file a user can drop in either loads into clean page text or fails with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.ingest.cleaning import clean_text
from docqa.ingest.loaders import LoadError, UnsupportedFile, load_file
from tests.conftest import SAMPLES, make_pdf


def test_pdf_pages_are_kept_apart_and_titled(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "two.pdf", ["Alpha page text.", "Beta page text."], title="Two Pages")
    loaded = load_file(pdf)
    assert loaded.kind == "pdf"
    assert loaded.title == "Two Pages"
    assert loaded.pages == ["Alpha page text.", "Beta page text."]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("corrupt_pdf", "corrupt PDF"),
        ("truncated_pdf", "corrupt PDF"),
        ("encrypted_pdf", "encrypted PDF"),
        ("scanned_pdf", "no text layer"),
        ("empty_txt", "empty file (0 bytes)"),
        ("binary_txt", "binary data"),
    ],
)
def test_bad_files_fail_with_a_one_line_reason(bad_inputs: dict[str, Path], name: str, reason: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_file(bad_inputs[name])
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_pdf_encrypted_with_empty_password_opens(tmp_path: Path) -> None:
    from tests.conftest import make_encrypted_pdf

    source = make_pdf(tmp_path / "plain.pdf", ["Readable despite the lock."])
    locked = make_encrypted_pdf(source, tmp_path / "locked.pdf", password="")
    assert load_file(locked).pages == ["Readable despite the lock."]


def test_non_utf8_text_is_decoded_and_the_report_says_how(bad_inputs: dict[str, Path]) -> None:
    loaded = load_file(bad_inputs["latin1_txt"])
    assert loaded.pages == ["Le café de la gare ouvre à sept heures."]
    assert loaded.notes == ["not valid UTF-8; decoded as Windows-1252"]


def test_unsupported_extension_is_a_skip_not_a_failure(bad_inputs: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedFile, match="unsupported file type '.pptx'"):
        load_file(bad_inputs["unsupported"])


def test_vanished_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="file disappeared"):
        load_file(tmp_path / "gone.txt")


def test_markdown_title_and_syntax_are_stripped(tmp_path: Path) -> None:
    md = tmp_path / "guide.md"
    md.write_text(
        "# Setup Guide\n\nRun **docqa** from the [shell](https://x.y).\n## Next\nDone.\n", encoding="utf-8"
    )
    loaded = load_file(md)
    assert loaded.title == "Setup Guide"
    assert loaded.pages == ["Setup Guide\n\nRun docqa from the shell.\n\nNext\n\nDone."]


def test_cleaning_dehyphenates_line_breaks_and_joins_wrapped_lines() -> None:
    raw = "The experi-\nment was a suc-\n cess.\nIt ran  well-\nKnown tests.\n\n\n\nNew paragraph."
    assert clean_text(raw) == "The experiment was a success. It ran well-Known tests.\n\nNew paragraph."


def test_bundled_pdf_sample_has_several_pages() -> None:
    loaded = load_file(SAMPLES / "packet_switching.pdf")
    assert loaded.title == "Packet switching"
    assert len(loaded.pages) >= 3
    assert "Paul Baran" in " ".join(loaded.pages)


def test_a_title_line_is_not_glued_onto_the_first_sentence() -> None:
    wrapped = "\n".join(
        ["Packet switching"]
        + [
            "Starting in the late 1950s, American computer scientist Paul Baran developed the concept of",
            "Distributed Adaptive Message Block Switching with the goal to provide a fault-tolerant,",
            "routing method for telecommunication messages as part of a research program at the RAND",
            "Corporation, funded by the US Department of Defense. This concept contrasted and contradicted",
            "the theretofore established principles of pre-allocation of network bandwidth.",
        ]
    )
    cleaned = clean_text(wrapped)
    assert cleaned.startswith("Packet switching\n\nStarting in the late 1950s, American computer scientist")
    assert "concept of Distributed Adaptive" in cleaned, "wrapped lines are still joined"


def test_narrow_columns_are_not_mistaken_for_headings() -> None:
    column = "\n".join(
        [
            "The engine was",
            "built in Cornwall",
            "by Richard Trevithick",
            "who tested it on",
            "Christmas Eve in",
            "1801.",
        ]
    )
    assert "\n" not in clean_text(column)
