"""Read a PDF's pages: the text layer where there is one, OCR where a page is only a scanned image.

Text comes from PDFium, laid out by :mod:`docqa.ingest.pdflayout` (running headers and footers removed,
columns read in order, tables as rows with their headers); pypdf only checks the file first (corrupt,
encrypted, too many pages: its errors name the problem). A page with almost no text (under
:data:`MIN_TEXT_CHARS` letters/digits) that holds an image is rendered with pypdfium2 at
:data:`OCR_DPI` and read by Tesseract (:mod:`docqa.ingest.ocr`); so mixed PDFs, with some pages scanned, work.
Pages without text *and* without images (blank pages, vector drawings) are not sent to OCR: there is
nothing for it to read, and each page costs seconds; nor are pages whose images are too small to hold a
line of text (under :data:`MIN_SCAN_PIXELS` pixels: icons, bullets, logos).

Limits (:mod:`docqa.ingest.limits`): a PDF with more than ``DOCQA_MAX_PAGES`` pages, or more than
``DOCQA_MAX_OCR_PAGES`` pages to OCR, is refused before any page is read. A page whose rendering at
:data:`OCR_DPI` would exceed ``DOCQA_MAX_PAGE_MPX`` is rendered at the DPI that fits instead (noted in the
report): render cost grows with the square of the page size (a 50-inch page at 250 dpi is 156 megapixels:
+421 MB here and 738 MB in Tesseract before), while letters on a page that large are large too, so a
lower DPI still reads them. Refusing would lose posters and drawings that are real documents.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.ingest.limits import LimitExceeded, Limits, plain
from docqa.ingest.loaded import LoadedFile, LoadError, page_ranges, title_from_stem
from docqa.ingest.ocr import DEFAULT_LANGUAGES
from docqa.ingest.pdflayout import lay_out
from docqa.ingest.scans import apply_ocr

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_TEXT_CHARS = 20  # fewer letters/digits than this on a page: treat it as having no text layer
# Tesseract is most accurate with capital letters ~30 px high; 300 dpi is its documented sweet spot, but a
# page scanned at 200 dpi has no more detail to give, and 300 dpi costs about twice the time.
OCR_DPI = 250
# A page's images together need this many pixels to be worth OCR: one short line of scanned text is
# ~1000x30 px; the probe's 30 pages each holding one 8x8 icon cost 30 Tesseract runs for nothing.
MIN_SCAN_PIXELS = 10_000


def load_pdf(
    path: Path,
    data: bytes,
    *,
    ocr: bool = True,
    languages: str = DEFAULT_LANGUAGES,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits | None = None,
    layout: bool = True,
) -> LoadedFile:
    """Load a PDF: its text layer laid out (:mod:`docqa.ingest.pdflayout`), OCR for scanned pages.

    :param layout: find running headers/footers, columns and tables; off, each page's text is PDFium's
        plain extraction, as before layout existed (the "legacy" column of ``benchmarks/pdf_layout.py``).
    """
    limits = limits or Limits.from_env()
    metadata_title = _check_document(data, limits)
    document = _open_pdfium(data, "to read its text")
    if len(document) > limits.pages:  # PDFium may count pages differently from pypdf on a broken file
        count = len(document)
        document.close()
        raise LimitExceeded(f"too many pages: {count}", f"{limits.pages} pages", "DOCQA_MAX_PAGES")
    laid = lay_out(document, layout=layout)
    pages = laid.pages
    title = metadata_title.strip() if isinstance(metadata_title, str) else ""
    loaded = LoadedFile(path=path, kind="pdf", title=title or title_from_stem(path), pages=pages)
    loaded.tables, loaded.table_count, loaded.running = laid.tables, laid.table_count, laid.running
    loaded.breaks = laid.breaks
    loaded.notes.extend(laid.notes)
    textless = [i + 1 for i, page in enumerate(pages) if sum(ch.isalnum() for ch in page) < MIN_TEXT_CHARS]
    scanned = _pages_with_images(data, textless) if textless else []
    if scanned and ocr:
        if len(scanned) > limits.ocr_pages:
            raise LimitExceeded(
                f"too many pages to OCR: {len(scanned)} pages have no text layer",
                f"{limits.ocr_pages} pages",
                "DOCQA_MAX_OCR_PAGES",
            )
        reduced: list[tuple[int, int]] = []
        apply_ocr(
            loaded,
            _render(data, scanned, limits.page_pixels, reduced),
            len(scanned),
            languages=languages,
            progress=progress,
            timeout=limits.ocr_seconds,
        )
        if reduced:
            numbers = page_ranges([number for number, _ in reduced])
            low, high = min(dpi for _, dpi in reduced), max(dpi for _, dpi in reduced)
            dpis = f"{low}" if low == high else f"{low}-{high}"
            label = "page" if len(reduced) == 1 else "pages"
            loaded.notes.append(
                f"{label} {numbers} OCRed at {dpis} dpi instead of {OCR_DPI}: larger than "
                f"{plain(limits.page_mpx)} megapixels at {OCR_DPI} dpi (DOCQA_MAX_PAGE_MPX)"
            )
    elif scanned:
        if len(scanned) == len(pages) or not any(p.strip() for p in pages):
            raise LoadError(
                f"PDF has no text layer ({len(pages)} page(s), likely scanned images) and OCR is turned off"
            )
        loaded.notes.append(f"pages {page_ranges(scanned)} have no text layer; not read (OCR is off)")
    if not any(page.strip() for page in loaded.pages):
        if scanned and ocr:
            raise LoadError(f"no text found, even with OCR ({len(pages)} page(s))")
        raise LoadError(
            f"PDF has no text layer ({len(pages)} page(s)) and no scanned images to read; nothing to index"
        )
    return loaded


def _check_document(data: bytes, limits: Limits) -> str:
    """Open the PDF with pypdf to refuse what cannot be read (with the reason) and count its pages; return
    its metadata title. The text itself is read by PDFium (:mod:`docqa.ingest.pdflayout`)."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError("corrupt PDF: the file does not start with a PDF header")
    # pypdf logs every recoverable oddity as a warning; the report carries what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing/copying.
            try:
                opened = reader.decrypt("")
            except Exception as err:  # pypdf raises several types for unsupported crypto
                raise LoadError(f"encrypted PDF that cannot be opened ({err})") from err
            if not opened:
                raise LoadError(
                    "encrypted PDF: it needs a password; save an unprotected copy and ingest that"
                )
        count = len(reader.pages)
        if count > limits.pages:
            raise LimitExceeded(f"too many pages: {count}", f"{limits.pages} pages", "DOCQA_MAX_PAGES")
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except LoadError:
        raise
    except FileNotDecryptedError as err:
        raise LoadError(
            "encrypted PDF: it needs a password; save an unprotected copy and ingest that"
        ) from err
    except (PdfReadError, PyPdfError) as err:
        raise LoadError(f"corrupt PDF: {str(err).splitlines()[0][:120]}") from err
    except Exception as err:  # malformed PDFs surface as arbitrary exceptions inside pypdf
        raise LoadError(
            f"corrupt PDF: {type(err).__name__}: {str(err).splitlines()[0][:100] if str(err) else ''}"
        ) from err
    if not count:
        raise LoadError("corrupt PDF: it has no pages")
    return metadata_title


def _open_pdfium(data: bytes, purpose: str = "for OCR"):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as err:
        raise LoadError(f"corrupt PDF: PDFium cannot open it {purpose} ({err})") from err


def _pages_with_images(data: bytes, numbers: list[int]) -> list[int]:
    """Which of these (1-based) pages draw images (directly or inside a form) that could hold text."""
    import pypdfium2.raw as pdfium_c

    document = _open_pdfium(data)
    try:
        found = []
        for number in numbers:
            page = document[number - 1]
            pixels = 0
            for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                try:
                    width, height = image.get_px_size()
                except Exception:  # an image PDFium cannot size: count it, let OCR decide
                    width = height = 1_000
                pixels += max(0, width) * max(0, height)
                if pixels >= MIN_SCAN_PIXELS:
                    found.append(number)
                    break
            page.close()
        return found
    finally:
        document.close()


def render_dpi(width_pt: float, height_pt: float, max_pixels: int) -> int:
    """:data:`OCR_DPI`, or the highest DPI at which a page this size stays within ``max_pixels``."""
    square_inches = max(width_pt / 72, 1e-3) * max(height_pt / 72, 1e-3)
    fitting = math.floor(math.sqrt(max_pixels / square_inches))
    return max(1, min(OCR_DPI, fitting))


def _render(
    data: bytes, numbers: list[int], max_pixels: int, reduced: list[tuple[int, int]]
) -> Iterator[tuple[int, Image, int]]:
    """Render pages one at a time (PDFium is not thread-safe; OCR of earlier pages runs meanwhile).

    Grayscale, one byte a pixel, at most ``max_pixels``; pages rendered below :data:`OCR_DPI` are
    appended to ``reduced`` as ``(page, dpi)``.
    """
    document = _open_pdfium(data)
    try:
        for number in numbers:
            page = document[number - 1]
            width, height = page.get_size()
            dpi = render_dpi(width, height, max_pixels)
            if dpi < OCR_DPI:
                reduced.append((number, dpi))
            image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            page.close()
            yield number, image, dpi
    finally:
        document.close()
