"""Build scanned documents for OCR tests: render a text PDF's pages to images, as a scanner would."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def render_pages(source: Path, pages: list[int], dpi: int = 200) -> list[Image.Image]:
    """Pages (1-based) of ``source`` as RGB images at ``dpi``."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(source))
    try:
        return [document[n - 1].render(scale=dpi / 72).to_pil().convert("RGB") for n in pages]
    finally:
        document.close()


def image_pdf(images: list[Image.Image], target: Path, dpi: int = 200) -> Path:
    """An image-only PDF (no text layer), one page per image."""
    images[0].save(target, "PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    return target


def concat_pdfs(parts: list[Path], target: Path) -> Path:
    """Pages of ``parts`` in order, in one PDF: e.g. a text page followed by a scanned one."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(str(part))
    with target.open("wb") as out:
        writer.write(out)
    return target
