"""Read text from page images with Tesseract, keeping where each word is so answers can be boxed.

Why the ``tesseract`` command is called directly instead of through ``pytesseract`` or ``ocrmypdf``:

- ``ocrmypdf`` writes a new PDF with an invisible text layer. We would then parse that PDF again, carry
  its heavier dependency chain (pikepdf, Ghostscript for some inputs) and still have no per-word
  confidence. We need the words, their boxes and confidences, not a new file.
- ``pytesseract`` would give us those (``image_to_data``) but always starts Tesseract with the process's
  own environment. Tesseract's OpenMP threads fight each other on a small machine: one 200 dpi page took
  47 s with Tesseract's default threading and 14 s with ``OMP_THREAD_LIMIT=1`` on our 2 shared cores, so we
  run one single-threaded Tesseract per core instead. Setting that variable process-wide would also cap
  torch's threads if torch is imported afterwards. Calling the command ourselves (image on stdin, TSV on
  stdout) is a few lines and lets each call get its own environment.

Pages are rendered by the caller (``pypdfium2`` for PDFs, Pillow for image files); this module turns an
image into :class:`OcrPage`: the page text (lines joined, paragraphs separated by a blank line, as the
cleaner expects) and each word's box as fractions of the page (top-left origin), so a preview can mark the
answer whatever scale it renders at.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from docqa.ingest.cleaning import clean_text

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_LANGUAGES = "eng"
# One page; a healthy Tesseract needs seconds, a stuck one is killed. Callers pass the configured limit
# (DOCQA_MAX_OCR_SECONDS, docqa.ingest.limits); this is its default.
PAGE_TIMEOUT_S = 120.0
INSTALL_HINT = "install it with 'apt-get install tesseract-ocr tesseract-ocr-eng' (or turn OCR off: --no-ocr)"


class OcrUnavailable(RuntimeError):
    """Tesseract (or its language data) is not installed; ``str(err)`` is a one-line how-to."""


class OcrFailed(RuntimeError):
    """Tesseract ran but failed on a page; ``str(err)`` is a one-line reason."""


class OcrPageTimeout(OcrFailed):
    """Tesseract ran past its time on one page and was killed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"OCR took longer than {seconds:g} s on one page")


@dataclass
class OcrWord:
    """One recognised word: its text, confidence (0-100) and box as fractions of the page size."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]  # left, top, right, bottom; 0..1, origin top-left


@dataclass
class OcrPage:
    """What Tesseract read on one page, before cleaning."""

    words: list[OcrWord] = field(default_factory=list)
    raw_text: str = ""  # words joined by spaces, lines by "\n", paragraphs by "\n\n"

    @property
    def confidence(self) -> float | None:
        """Mean word confidence (0-100), or None when nothing was read."""
        return sum(w.confidence for w in self.words) / len(self.words) if self.words else None


def tesseract_path() -> str | None:
    return shutil.which("tesseract")


def check_available(languages: str = DEFAULT_LANGUAGES) -> str:
    """The Tesseract executable, or :class:`OcrUnavailable` saying how to install what is missing."""
    exe = tesseract_path()
    if exe is None:
        raise OcrUnavailable(f"Tesseract OCR is not installed; {INSTALL_HINT}")
    try:
        listed = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise OcrUnavailable(f"Tesseract OCR cannot be started ({err}); {INSTALL_HINT}") from err
    available = {line.strip() for line in listed.stdout.splitlines()[1:] if line.strip()}
    missing = [lang for lang in languages.split("+") if lang not in available]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise OcrUnavailable(
            f"Tesseract has no language data for {', '.join(missing)}; install it with "
            f"'apt-get install {packages}' (or turn OCR off: --no-ocr)"
        )
    return exe


def parse_tsv(tsv: str, width: int, height: int) -> OcrPage:
    """Tesseract's TSV output → :class:`OcrPage` (words with confidences and page-relative boxes)."""
    page = OcrPage()
    lines: list[str] = []
    current: list[str] = []
    paragraph_key: tuple[str, str, str] | None = None
    line_key: tuple[str, str, str, str] | None = None
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        conf = float(cols[10])
        if not text or conf < 0:
            continue
        left, top, w, h = (int(v) for v in cols[6:10])
        key = (cols[1], cols[2], cols[3], cols[4])
        if key != line_key:
            if current:
                lines.append(" ".join(current))
            if paragraph_key is not None and key[:3] != paragraph_key:
                lines.append("")  # paragraph break
            current, line_key, paragraph_key = [], key, key[:3]
        current.append(text)
        page.words.append(
            OcrWord(
                text=text,
                confidence=conf,
                box=(left / width, top / height, (left + w) / width, (top + h) / height),
            )
        )
    if current:
        lines.append(" ".join(current))
    page.raw_text = "\n".join(lines)
    return page


def ocr_image(
    image: Image,
    *,
    dpi: int,
    languages: str = DEFAULT_LANGUAGES,
    exe: str | None = None,
    timeout: float = PAGE_TIMEOUT_S,
) -> OcrPage:
    """OCR one page image (any Pillow mode); single-threaded Tesseract so callers can run one per core.

    A grayscale image is sent as it is and the encoded page is handed to Tesseract without a copy: on a
    large page each extra copy is a byte a pixel (the probe's 156-megapixel page held four). A page of one
    colour (a blank separator sheet, a fax's empty back side) has no text and is not sent at all: the
    probe's TIFF of 24 blank 6000x6000 frames cost ~2.5 s of Tesseract each.

    :raises OcrPageTimeout: Tesseract ran past ``timeout`` seconds (it is killed).
    """
    exe = exe or check_available(languages)
    gray = image if image.mode == "L" else image.convert("L")
    low, high = gray.getextrema()
    if low == high:
        return OcrPage()
    buffer = io.BytesIO()
    gray.save(buffer, format="PPM")  # uncompressed: 50x faster to write than PNG, read by Leptonica
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            [exe, "stdin", "stdout", "-l", languages, "--dpi", str(dpi), "tsv"],
            input=buffer.getbuffer(),
            capture_output=True,
            env=env,
            timeout=timeout,
        )
    except FileNotFoundError as err:
        raise OcrUnavailable(f"Tesseract OCR is not installed; {INSTALL_HINT}") from err
    except subprocess.TimeoutExpired as err:
        raise OcrPageTimeout(timeout) from err
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrFailed(f"Tesseract failed: {message[-1][:120] if message else f'exit {done.returncode}'}")
    return parse_tsv(done.stdout.decode("utf-8", "replace"), gray.width, gray.height)


# Tesseracts one process runs at once when no caller says (``workers=None``): every core by default; a
# ``--jobs`` pool worker sets its share (``docqa.ingest.bulk``), so N workers do not start N × cores of them.
_default_workers: int | None = None


def set_default_workers(workers: int | None) -> None:
    """Tesseracts this process runs at once by default (None: one per core)."""
    global _default_workers
    _default_workers = workers


def ocr_images(
    images: Iterable[tuple[Image, int]],
    *,
    languages: str = DEFAULT_LANGUAGES,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    timeout: float = PAGE_TIMEOUT_S,
) -> Iterator[OcrPage]:
    """OCR ``(image, dpi)`` pairs, one Tesseract per core, yielding results in input order.

    At most ``2 * workers`` images are held at once, so a 500-page scan does not sit in memory whole.
    ``progress`` is called with the number of pages finished so far.
    """
    exe = check_available(languages)
    workers = max(1, workers or _default_workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        finished = 0
        try:
            for image, dpi in images:
                pending.append(
                    pool.submit(ocr_image, image, dpi=dpi, languages=languages, exe=exe, timeout=timeout)
                )
                del image  # the queued task holds it until its page is read; then it can go
                while len(pending) >= 2 * workers:
                    finished += 1
                    yield pending.pop(0).result()
                    if progress:
                        progress(finished)
            while pending:
                finished += 1
                yield pending.pop(0).result()
                if progress:
                    progress(finished)
        finally:
            for future in pending:  # a page failed or the caller stopped: do not OCR the queued pages
                future.cancel()


def align_words(words: list[OcrWord], cleaned: str) -> list[tuple[int, int, OcrWord]]:
    """Map each word to its ``[start, end)`` in the cleaned page text (words the cleaner dropped: left out).

    The cleaner joins lines, undoes line-break hyphenation and normalises unicode, so offsets cannot be
    carried through it. Instead both sides are compared without white space and hyphens: each word is
    looked for from where the previous one ended, which tolerates "experi-" + "ment" → "experiment".
    """
    key_chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(cleaned):
        if ch.isspace() or ch in "-\u00ad":
            continue
        key_chars.append(ch)
        origin.append(i)
    key = "".join(key_chars)
    out: list[tuple[int, int, OcrWord]] = []
    cursor = 0
    for word in words:
        target = "".join(ch for ch in clean_text(word.text) if not ch.isspace() and ch not in "-\u00ad")
        if not target:
            continue
        at = key.find(target, cursor)
        if at < 0 or at - cursor > 40:  # not found nearby: the cleaner changed it; skip, keep the cursor
            continue
        out.append((origin[at], origin[at + len(target) - 1] + 1, word))
        cursor = at + len(target)
    return out


@dataclass
class ReadPage:
    """One OCRed page as the index keeps it: cleaned text, word boxes keyed to it, mean confidence."""

    text: str
    boxes: list[list[float]]  # [start, end, left, top, right, bottom]; see docqa.ingest.loaded.WordBox
    confidence: float | None

    @property
    def empty(self) -> bool:
        """Nothing worth indexing: fewer than three letters or digits (specks, stamps, a photo)."""
        return sum(ch.isalnum() for ch in self.text) < 3


def read_pages(
    images: Iterable[tuple[Image, int]],
    *,
    languages: str = DEFAULT_LANGUAGES,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    timeout: float = PAGE_TIMEOUT_S,
) -> Iterator[ReadPage]:
    """OCR and clean pages; each word's box is tied to its characters in the cleaned text."""
    for page in ocr_images(images, languages=languages, workers=workers, progress=progress, timeout=timeout):
        cleaned = clean_text(page.raw_text)
        boxes = [
            [start, end, *(round(v, 5) for v in word.box)]
            for start, end, word in align_words(page.words, cleaned)
        ]
        yield ReadPage(cleaned, boxes, page.confidence)
