"""Small hostile files of each class the attack probe found (``../shared/security/make_hostile_files.py``
builds the full-size ones), plus variants: the fixes must hold for the class, not for those files.

Every builder takes its size as an argument so a test can stay fast by shrinking the matching
``DOCQA_MAX_*`` limit instead of building a 100 MB file; :func:`measure_loads` reads files in a child
process and reports each one's outcome, time and peak memory growth.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/></Relationships>'
)
_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
EMPTY_PARAGRAPH = b"<w:p><w:r><w:t></w:t></w:r></w:p>"
TEXT_PARAGRAPH = b"<w:p><w:r><w:t>The lighthouse keeper lit the lamp at dusk.</w:t></w:r></w:p>"


def docx(
    path: Path,
    body: bytes,
    *,
    prolog: bytes = b"",
    compression: int = zipfile.ZIP_DEFLATED,
    parts: dict[str, bytes] | None = None,
) -> Path:
    """A minimal Word package (as Word lays it out) whose body is ``body``, plus any extra ``parts``."""
    document = b'<?xml version="1.0" encoding="UTF-8"?>\n' + prolog + b"<w:document " + _NS + b"><w:body>"
    document += body + b"</w:body></w:document>"
    level = 9 if compression == zipfile.ZIP_DEFLATED else None
    with zipfile.ZipFile(path, "w", compression, compresslevel=level) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES, zipfile.ZIP_DEFLATED)
        z.writestr("_rels/.rels", _RELS, zipfile.ZIP_DEFLATED)
        z.writestr("word/document.xml", document)
        for name, data in (parts or {}).items():
            z.writestr(name, data)
    return path


def styled_docx(path: Path, styles: bytes) -> Path:
    """A document whose styles part (found through the document's relationships) is ``styles``."""
    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'
    )
    return docx(path, TEXT_PARAGRAPH, parts={"word/_rels/document.xml.rels": rels, "word/styles.xml": styles})


def filler_docx(path: Path, megabytes: float) -> Path:
    """Empty paragraphs: compresses ~340 times (the probe's hugexml files)."""
    return docx(path, EMPTY_PARAGRAPH * int(megabytes * 2**20 / len(EMPTY_PARAGRAPH)))


def noisy_docx(path: Path, megabytes: float, seed: int = 0) -> Path:
    """Empty paragraphs carrying random revision ids: compresses ~3 times, so no ratio check catches
    it; only the size limit does."""
    rng = random.Random(seed)
    paragraph = b'<w:p w:rsidR="%08X" w:rsidRDefault="%08X"/>'
    n = int(megabytes * 2**20 / len(paragraph % (0, 0)))
    body = b"".join(paragraph % (rng.getrandbits(32), rng.getrandbits(32)) for _ in range(n))
    return docx(path, body)


def deep_docx(path: Path, depth: int = 300) -> Path:
    """Tables nested ``depth`` deep (the probe's deep.docx)."""
    return docx(path, TEXT_PARAGRAPH + b"<w:tbl><w:tr><w:tc>" * depth + b"</w:tc></w:tr></w:tbl>" * depth)


def entity_docx(path: Path, levels: int = 6) -> Path:
    """Billion laughs: each entity is ten of the one before; the last expands to 1000 * 10**levels chars."""
    entities = b'<!ENTITY a "' + b"x" * 1000 + b'">' + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(levels)
    )
    last = bytes([97 + levels])
    return docx(path, b"<w:p><w:r><w:t>&" + last + b";</w:t></w:r></w:p>",
                prolog=b"<!DOCTYPE w:document [" + entities + b"]>")


def lying_docx(path: Path, real_megabytes: float, declared: int = 1000) -> Path:
    """A document part whose zip directory (and local header) claim ``declared`` bytes while its data
    inflates to ``real_megabytes``: the sizes a zip states cannot be trusted."""
    docx(path, EMPTY_PARAGRAPH * int(real_megabytes * 2**20 / len(EMPTY_PARAGRAPH)))
    data = bytearray(path.read_bytes())
    name = b"word/document.xml"
    eocd = data.rfind(b"PK\x05\x06")
    entries, _, directory = struct.unpack_from("<HII", data, eocd + 10)
    at = directory
    for _ in range(entries):  # walk the central directory to this member's entry
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        local = struct.unpack_from("<I", data, at + 42)[0]
        if data[at + 46 : at + 46 + name_len] == name:
            struct.pack_into("<I", data, at + 24, declared)  # central directory: uncompressed size
            struct.pack_into("<I", data, local + 22, declared)  # local header: uncompressed size
            break
        at += 46 + name_len + extra_len + comment_len
    else:
        raise AssertionError("document part not found")
    path.write_bytes(bytes(data))
    return path


def html(path: Path, megabytes: float) -> Path:
    paragraph = b"<p>Rollo founded the Duchy of Normandy in 911, the chronicles say.</p>\n"
    body = paragraph * int(megabytes * 2**20 / len(paragraph))
    path.write_bytes(b"<html><body>" + body + b"</body></html>")
    return path


def tiff(path: Path, frames: int, side: int) -> Path:
    """``frames`` blank ``side``x``side`` pages, Group 4 compressed (the probe's frames24.tiff: 24 x 6000)."""
    from PIL import Image

    pages = [Image.new("1", (side, side), 1) for _ in range(frames)]
    pages[0].save(path, save_all=True, append_images=pages[1:], compression="group4")
    return path


def png(path: Path, width: int, height: int) -> Path:
    from PIL import Image

    Image.new("1", (width, height), 1).save(path)
    return path


def image_pages_pdf(path: Path, pages: int, image_px: int, *, page_pt: float | None = None) -> Path:
    """``pages`` pages holding only a blank ``image_px``-square image (drawn 100 pt wide)."""
    from fpdf import FPDF
    from PIL import Image

    picture = path.with_suffix(".picture.png")
    Image.new("L", (image_px, image_px), 255).save(picture)
    pdf = FPDF(unit="pt", format=(page_pt, page_pt) if page_pt else "A4")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(str(picture), x=10, y=10, w=100)
    pdf.output(str(path))
    picture.unlink()
    return path


_CHILD = r"""
import json, re, resource, sys, time
from pathlib import Path

def status(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

import docqa.ingest.splitting  # the heavy imports (haystack) once, before anything is measured
from docqa.ingest.loaders import LoadError, load_file
try:
    open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current RSS
    can_reset = True
except OSError:
    can_reset = False
for raw in sys.argv[1:]:
    if can_reset:
        open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
    started = time.perf_counter()
    try:
        loaded = load_file(Path(raw))
        outcome = "loaded: " + " ".join(loaded.notes)
    except LoadError as err:
        outcome = "failed: " + str(err)
    seconds = time.perf_counter() - started
    growth = (status("VmHWM") - before) / 1024 if can_reset else None
    print(json.dumps({"file": Path(raw).name, "outcome": outcome, "seconds": seconds,
                      "growth_mb": growth}), flush=True)
"""

# Stands in for `tesseract` on PATH: runs the real one and logs its peak RSS. (RUSAGE_CHILDREN of the
# loading process would not do: a forked child counts the parent's pages until it execs.)
_TESSERACT_SHIM = """#!{python}
import resource, subprocess, sys
code = subprocess.run([{real!r}, *sys.argv[1:]]).returncode
with open({log!r}, "a") as log:
    log.write(f"{{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}\\n")
sys.exit(code)
"""


def measure_loads(
    paths: list[Path], env: dict[str, str] | None = None, timeout: float = 300
) -> dict[str, dict]:
    """Load each file in one child process; per file name: ``outcome`` ("loaded: notes" or "failed:
    reason"), ``seconds``, ``growth_mb`` (peak RSS above the RSS before it, None where the kernel cannot
    reset the peak); and under ``"tesseract_peak_mb"`` the largest Tesseract run (0 if none ran)."""
    import shutil
    import tempfile

    real = shutil.which("tesseract")
    with tempfile.TemporaryDirectory(prefix="shim-") as shim_dir:
        log = Path(shim_dir) / "rss.log"
        log.touch()
        path_env = os.environ.get("PATH", "")
        if real:
            shim = Path(shim_dir) / "tesseract"
            shim.write_text(_TESSERACT_SHIM.format(python=sys.executable, real=real, log=str(log)))
            shim.chmod(0o755)
            path_env = f"{shim_dir}{os.pathsep}{path_env}"
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env={**os.environ, **(env or {}), "PATH": path_env},
        )
        peaks = [int(line) for line in log.read_text().split()]
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["file"]: row for row in rows} | {"tesseract_peak_mb": max(peaks, default=0) / 1024}
