"""How much one ingested file may cost, and the one-line refusal that names the limit and its setting.

Why limits at all: a file's size says little about what reading it costs. An attack probe found a 298 KB
.docx holding 100 MB of XML (372 s, +1.4 GB), a 70 KB TIFF with 24 blank 6000x6000 frames (+1 GB, every
frame decoded at once), a 1 KB PDF with one 50-inch page (+421 MB, Tesseract at 738 MB; cost grows with
the square of the page size) and 30 image-only pages OCRed with no cap. Each limit below bounds one of
those costs before the expensive step starts, and a file over it fails with its own report line, e.g.
``too many pages: 6000 (the limit is 5000; raise DOCQA_MAX_PAGES to read it)``; the rest of the batch goes on.

Every default is chosen so real documents never meet it (see each field); each can be raised with its
``DOCQA_MAX_*`` variable (registered in :mod:`docqa.config`, listed in the README's "Limits and safety").
"""

from __future__ import annotations

from dataclasses import dataclass

from docqa import config
from docqa.ingest.loaded import LoadError

MB = 1024 * 1024


class LimitExceeded(LoadError):
    """A file is over one of the :class:`Limits`; the message names the limit and the variable to raise."""

    def __init__(self, what: str, limit: str, setting: str) -> None:
        self.setting = setting
        super().__init__(f"{what} (the limit is {limit}; raise {setting} to read it)")


@dataclass(frozen=True)
class Limits:
    """The per-file limits, read from the environment by :meth:`from_env` (defaults: the field values)."""

    # XML a .docx may inflate to (its .xml/.rels parts; images and other media are never inflated). A
    # 450-page manual (225,000 words, headings, tables) written by python-docx holds 2.2 MB of XML; Word's
    # own markup is 2-3 times wordier. The streaming reader (docqa.ingest.office) reads 60 MB of the
    # costliest XML (empty paragraphs) in 5-17 s with +5-26 MB here, so 64 MB bounds the worst file while
    # real documents stay far below it.
    unzipped_mb: float = 64.0
    # How many times one part may inflate its compressed size (parts over 1 MB inflated). Word's XML
    # compresses 5-20x, a very repetitive table ~50x; deflate's maximum is ~1030x, which only generated
    # filler reaches (the probe's empty-paragraph XML: 330x).
    zip_ratio: float = 100.0
    # Bytes of one HTML file. Real pages are 50 KB-2 MB. trafilatura is the cost: measured here, a 4 MB
    # article takes 10 s and +93 MB, 4 MB of tiny paragraphs (the worst markup) 24 s and +204 MB, and it
    # grows linearly (the probe's 60 MB page passed 3.8 GB in 120 s). Raise it for a single-page manual
    # (the whole HTML standard on one page is ~13 MB).
    html_mb: float = 4.0
    # Pixels of one page image handed to Tesseract, which needs ~35 MB plus 3-11 bytes a pixel (measured:
    # 90 MB on a blank 16 Mpx page, 438 MB on a 40 Mpx poster, 798 MB at 156 Mpx). 40 Mpx holds a letter
    # or A4 scan at 600 dpi (34-35 Mpx) and any phone photo at its default resolution (12-24 Mpx). PDF
    # pages larger than this at OCR_DPI are rendered at a lower DPI instead (an A0 poster: ~160 dpi, its
    # letters are large); image files are decoded as stored, so a larger one is refused before decoding.
    page_mpx: float = 40.0
    # Pages of one PDF, frames of one TIFF. The largest real manuals (Intel's combined SDM) are ~5000.
    pages: int = 5000
    # Pages of one file read by OCR (seconds each): a 300-page scanned manual fits with room to spare.
    ocr_pages: int = 500
    # Seconds Tesseract may spend on one page. A dense text page of data/samples/packet_switching.pdf
    # takes 7 s at 250 dpi (6 Mpx) and 13 s at 600 dpi (35 Mpx) on one core here: ~10x headroom.
    ocr_seconds: float = 120.0

    @classmethod
    def from_env(cls) -> Limits:
        """The limits with every ``DOCQA_MAX_*`` variable applied.

        :raises docqa.errors.ConfigError: naming the variable when a value is not a positive number.
        """
        default = cls()
        big = 1e9

        def number(name: str, value: float) -> float:
            return config.env_float(name, value, low=1e-6, high=big)

        return cls(
            unzipped_mb=number(config.MAX_UNZIPPED_MB, default.unzipped_mb),
            zip_ratio=number(config.MAX_ZIP_RATIO, default.zip_ratio),
            html_mb=number(config.MAX_HTML_MB, default.html_mb),
            page_mpx=number(config.MAX_PAGE_MPX, default.page_mpx),
            pages=max(1, int(number(config.MAX_PAGES, default.pages))),
            ocr_pages=max(1, int(number(config.MAX_OCR_PAGES, default.ocr_pages))),
            ocr_seconds=number(config.MAX_OCR_SECONDS, default.ocr_seconds),
        )

    @property
    def unzipped_bytes(self) -> int:
        return int(self.unzipped_mb * MB)

    @property
    def html_bytes(self) -> int:
        return int(self.html_mb * MB)

    @property
    def page_pixels(self) -> int:
        return int(self.page_mpx * 1_000_000)


def megabytes(n: float) -> str:
    """``64 MB``, ``0.5 MB``: sizes in refusals, as users set them."""
    value = n / MB
    return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"


def plain(n: float) -> str:
    """``40``, ``0.5``: a limit as the variable holds it."""
    return f"{n:g}"
