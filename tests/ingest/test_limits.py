"""Bounded work per file: each hostile class is refused by the limit that names its setting, in bounded
time and memory, and real documents of the same kinds are untouched.

Sizes are small: each test shrinks the ``DOCQA_MAX_*`` limit it exercises instead of building the
probe's 100 MB files (``tests/ingest/hostile.py`` builds every class at any size).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from docqa.errors import ConfigError
from docqa.ingest.limits import LimitExceeded, Limits
from docqa.ingest.loaders import LoadError, load_file
from docqa.ingest.pdf import OCR_DPI, render_dpi
from tests.conftest import make_pdf
from tests.ingest import hostile

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


def refused(path: Path, setting: str, **limits: float) -> str:
    """Load ``path`` under ``limits``; it must fail naming ``setting``. Returns the reason."""
    with pytest.raises(LimitExceeded) as caught:
        load_file(path, limits=Limits(**limits))
    reason = str(caught.value)
    assert setting in reason and "\n" not in reason, reason
    assert caught.value.setting == setting
    return reason


# ------------------------------------------------------------------------------------------ settings


def test_limits_come_from_the_environment_and_bad_values_name_the_variable(monkeypatch) -> None:
    assert Limits.from_env() == Limits()
    monkeypatch.setenv("DOCQA_MAX_PAGES", "12")
    monkeypatch.setenv("DOCQA_MAX_PAGE_MPX", "2.5")
    limits = Limits.from_env()
    assert limits.pages == 12 and limits.page_pixels == 2_500_000
    monkeypatch.setenv("DOCQA_MAX_UNZIPPED_MB", "lots")
    with pytest.raises(ConfigError, match="DOCQA_MAX_UNZIPPED_MB"):
        Limits.from_env()
    monkeypatch.setenv("DOCQA_MAX_UNZIPPED_MB", "-1")
    with pytest.raises(ConfigError, match="DOCQA_MAX_UNZIPPED_MB"):
        Limits.from_env()


def test_load_file_reads_the_limits_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    page = hostile.html(tmp_path / "page.html", 0.05)
    assert load_file(page).kind == "html"
    monkeypatch.setenv("DOCQA_MAX_HTML_MB", "0.01")
    with pytest.raises(LimitExceeded, match="DOCQA_MAX_HTML_MB"):
        load_file(page)


# ------------------------------------------------------------------------------------------ Word


def test_docx_xml_over_the_size_limit_is_refused_before_inflating(tmp_path: Path) -> None:
    # Random revision ids: compresses ~3x, so only the size limit can catch it.
    path = hostile.noisy_docx(tmp_path / "noisy.docx", 3)
    reason = refused(path, "DOCQA_MAX_UNZIPPED_MB", unzipped_mb=2)
    assert "3 MB" in reason or "3.0 MB" in reason


def test_docx_that_inflates_hundreds_of_times_is_refused_by_ratio(tmp_path: Path) -> None:
    path = hostile.filler_docx(tmp_path / "filler.docx", 2)
    assert "times" in refused(path, "DOCQA_MAX_ZIP_RATIO")
    # the same file is read (and found empty) when the ratio is allowed
    with pytest.raises(LoadError, match="no text: the Word document is empty"):
        load_file(path, limits=Limits(zip_ratio=10_000))


def test_docx_whose_directory_lies_about_sizes_is_never_inflated_past_its_claim(tmp_path: Path) -> None:
    """Declared 1000 bytes, 20 MB of real XML: reading stops at the claim, the CRC check fails."""
    path = hostile.lying_docx(tmp_path / "lying.docx", 20)
    result = hostile.measure_loads([path])["lying.docx"]
    assert result["outcome"].startswith("failed: corrupt Word file"), result
    if result["growth_mb"] is not None:
        assert result["growth_mb"] < 15, result


def test_docx_budget_counts_what_really_inflates(tmp_path: Path) -> None:
    """Even when the directory's sizes are within the limit, what streams out is counted too."""
    path = hostile.noisy_docx(tmp_path / "noisy.docx", 1.5)
    with pytest.raises(LimitExceeded, match="DOCQA_MAX_UNZIPPED_MB"):
        load_file(path, limits=Limits(unzipped_mb=1))


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (lambda p: hostile.deep_docx(p, 300), "nested more than 256 levels deep"),
        (lambda p: hostile.deep_docx(p, 5_000), "nested more than 256 levels deep"),
        (lambda p: hostile.entity_docx(p), "DTD"),
        (lambda p: hostile.docx(p, hostile.TEXT_PARAGRAPH, compression=zipfile.ZIP_BZIP2), "method"),
        (lambda p: (p.write_bytes(b"PK\x03\x04" + b"\x00" * 100), p)[1], "corrupt Word file"),
    ],
    ids=["deep-300", "deep-5000", "entities", "bzip2", "garbage-zip"],
)
def test_malformed_docx_is_a_one_line_failure(tmp_path: Path, builder, expected: str) -> None:
    path = builder(tmp_path / "bad.docx")
    with pytest.raises(LoadError) as caught:
        load_file(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_docx_shapes_that_only_a_hostile_file_has_are_refused(tmp_path: Path) -> None:
    """A table row of 2000 cells (Word allows 63) and a 9 MB styles part (Word's are 30-300 KB): both would
    be held whole in memory, so they are refused; a normal styles part is read (headings found)."""
    row = hostile.docx(tmp_path / "row.docx", b"<w:tbl><w:tr>" + b"<w:tc/>" * 2000 + b"</w:tr></w:tbl>")
    with pytest.raises(LoadError, match="more than 1000 cells"):
        load_file(row)
    rng = __import__("random").Random(0)
    noise = b"".join(b'<w:style w:styleId="s%08X"/>' % rng.getrandbits(32) for _ in range(300_000))
    ns = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    big = hostile.styled_docx(tmp_path / "styles.docx", b"<w:styles " + ns + b">" + noise + b"</w:styles>")
    with pytest.raises(LoadError, match=r"part word/styles.xml is 9.\d MB \(at most 8 MB"):
        load_file(big)
    heading = b'<w:style w:type="paragraph" w:styleId="H1"><w:name w:val="heading 1"/></w:style>'
    fine = hostile.styled_docx(tmp_path / "fine.docx", b"<w:styles " + ns + b">" + heading + b"</w:styles>")
    assert load_file(fine).pages == ["The lighthouse keeper lit the lamp at dusk."]


def test_a_docx_with_big_images_costs_no_more_than_its_text(tmp_path: Path) -> None:
    """Media parts are never inflated: a document with 30 MB of (incompressible) image stays cheap."""
    import os

    path = hostile.docx(tmp_path / "photos.docx", hostile.TEXT_PARAGRAPH)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as z:
        z.writestr("word/media/image1.png", os.urandom(30 * 2**20))
    result = hostile.measure_loads([path], env={"DOCQA_MAX_UNZIPPED_MB": "1"})["photos.docx"]
    assert result["outcome"].startswith("loaded"), result
    if result["growth_mb"] is not None:
        assert result["growth_mb"] < 80, result  # the 30 MB file itself is read once


# ------------------------------------------------------------------------------------------ HTML


def test_html_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = hostile.html(tmp_path / "big.html", 0.3)
    assert "DOCQA_MAX_HTML_MB" in refused(path, "DOCQA_MAX_HTML_MB", html_mb=0.25)
    assert load_file(path, limits=Limits(html_mb=1)).kind == "html"


def test_deeply_nested_html_is_read_or_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_bytes(b"<html><body>" + b"<div>" * 50_000 + b"<p>Deep text here.</p>" + b"</div>" * 50_000)
    try:
        loaded = load_file(path)
    except LoadError as err:
        assert "\n" not in str(err)
    else:
        assert loaded.kind == "html"


# ------------------------------------------------------------------------------------------ images


def test_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = hostile.png(tmp_path / "big.png", 5000, 4000)  # 20 Mpx, 2 KB on disk
    reason = refused(path, "DOCQA_MAX_PAGE_MPX", page_mpx=10)
    assert "5000 x 4000" in reason


def test_tiff_with_more_frames_than_pages_allowed_is_refused(tmp_path: Path) -> None:
    path = hostile.tiff(tmp_path / "fax.tiff", frames=6, side=100)
    refused(path, "DOCQA_MAX_PAGES", pages=5)
    refused(path, "DOCQA_MAX_OCR_PAGES", ocr_pages=5)


def test_tiff_frames_are_decoded_one_at_a_time(tmp_path: Path) -> None:
    """8 frames of 9 megapixels: ~150 MB decoded at once (as before), one frame's worth now."""
    from docqa.ingest.images import iter_frames

    path = hostile.tiff(tmp_path / "frames.tiff", frames=8, side=3000)
    seen = [frame.size for frame in iter_frames(path.read_bytes())]
    assert seen == [(3000, 3000)] * 8
    script = tmp_path / "frames.py"
    script.write_text(
        "import re, sys\n"
        "from docqa.ingest.images import iter_frames\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "status = lambda f: int(re.search(f + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "before = status('VmRSS')\n"
        "for frame in iter_frames(data):\n"
        "    frame.load()\n"
        "print((status('VmHWM') - before) / 1024)\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True,
                          cwd=hostile.REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) < 45, "at most one or two 9 MB frames held, not eight"


@needs_tesseract
def test_blank_pages_are_not_sent_to_tesseract(tmp_path: Path, monkeypatch) -> None:
    """The probe's TIFF of blank frames cost ~2.5 s of Tesseract a frame; a page of one colour has no text."""
    import subprocess

    from docqa.ingest import ocr

    runs: list[list[str]] = []
    real_run = subprocess.run

    def counting(args, *rest, **kwargs):
        if "stdin" in args:
            runs.append(args)
        return real_run(args, *rest, **kwargs)

    monkeypatch.setattr(ocr.subprocess, "run", counting)
    blank = hostile.tiff(tmp_path / "blank.tiff", frames=6, side=2000)
    with pytest.raises(LoadError, match="no text found by OCR"):
        load_file(blank)
    assert runs == [], "no Tesseract run for a blank page"
    from PIL import Image

    speck = Image.new("L", (400, 300), 255)
    speck.putpixel((10, 10), 0)
    speck.save(tmp_path / "speck.png")
    with pytest.raises(LoadError, match="no text found by OCR"):
        load_file(tmp_path / "speck.png")
    assert len(runs) == 1, "a page with anything on it is read"


@needs_tesseract
def test_ocr_time_per_page_is_limited(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "page.png"
    page = Image.new("L", (800, 600), 255)
    page.paste(0, (100, 100, 700, 140))  # not blank: blank pages never reach Tesseract
    page.save(path)
    reason = refused(path, "DOCQA_MAX_OCR_SECONDS", ocr_seconds=0.001)
    assert "longer than 0.001 s" in reason


# ------------------------------------------------------------------------------------------ PDF


def test_pdf_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "long.pdf", [f"Page {i} of the lighthouse manual." for i in range(6)])
    assert "6" in refused(path, "DOCQA_MAX_PAGES", pages=5)
    assert len(load_file(path, limits=Limits(pages=6)).pages) == 6


def test_pdf_with_more_scanned_pages_than_allowed_is_refused_before_any_ocr(tmp_path: Path) -> None:
    path = hostile.image_pages_pdf(tmp_path / "scans.pdf", pages=4, image_px=200)
    refused(path, "DOCQA_MAX_OCR_PAGES", ocr_pages=3)


def test_pages_whose_images_are_icons_are_not_sent_to_ocr(tmp_path: Path) -> None:
    """The probe's img30.pdf: 30 pages with an 8x8 image each cost 30 Tesseract runs."""
    path = hostile.image_pages_pdf(tmp_path / "icons.pdf", pages=30, image_px=8)
    with pytest.raises(LoadError, match="no scanned images to read"):
        load_file(path, limits=Limits(ocr_seconds=0.001))  # any OCR would fail on time instead


@pytest.mark.parametrize(
    ("width_pt", "height_pt", "max_mpx", "expected"),
    [
        (612, 792, 40, OCR_DPI),  # US letter: full resolution
        (2384, 3370, 40, 160),  # A0 poster
        (3600, 3600, 40, 126),  # the probe's 50-inch page
        (14400, 14400, 40, 31),  # the largest page PDF allows
        (14400, 14400, 0.001, 1),
    ],
)
def test_render_dpi_keeps_every_page_within_the_pixel_limit(width_pt, height_pt, max_mpx, expected) -> None:
    dpi = render_dpi(width_pt, height_pt, int(max_mpx * 1e6))
    assert dpi == expected
    if dpi > 1:
        assert (width_pt / 72 * dpi) * (height_pt / 72 * dpi) <= max_mpx * 1e6


def _poster(path: Path, page_pt: float) -> Path:
    """A scanned poster: one picture of large lettering across a ``page_pt``-square page."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("L", (1600, 400), 255)
    ImageDraw.Draw(picture).text((40, 60), "HARBOUR", fill=0, font=ImageFont.load_default(size=240))
    picture_path = path.with_suffix(".png")
    picture.save(picture_path)
    pdf = FPDF(unit="pt", format=(page_pt, page_pt))
    pdf.add_page()
    pdf.image(str(picture_path), x=page_pt * 0.05, y=page_pt * 0.3, w=page_pt * 0.9)
    pdf.output(str(path))
    return path


@pytest.mark.slow
@needs_tesseract
def test_a_huge_page_is_rendered_at_a_lower_dpi_within_the_pixel_limit(tmp_path: Path) -> None:
    path = _poster(tmp_path / "poster.pdf", page_pt=3600)  # the probe's 50-inch page
    measured = hostile.measure_loads([path], env={"DOCQA_MAX_PAGE_MPX": "2"})
    result = measured["poster.pdf"]
    dpi = render_dpi(3600, 3600, 2_000_000)
    assert result["outcome"].startswith("loaded"), result
    assert f"page 1 OCRed at {dpi} dpi instead of 250" in result["outcome"], result
    assert "DOCQA_MAX_PAGE_MPX" in result["outcome"], result
    assert result["seconds"] < 60, result
    if result["growth_mb"] is not None:
        # 2 megapixels a byte each, a few copies at most (was 156 megapixels, +421 MB, at 250 dpi)
        assert result["growth_mb"] < 40, result
    assert 0 < measured["tesseract_peak_mb"] < 120, measured  # 738 MB on the probe's page at 250 dpi
    assert "HARBOUR" in load_file(path, limits=Limits(page_mpx=2)).pages[0]
