"""Regenerate the sample corpus in data/samples/ from the SQuAD 2.0 dev articles in ../shared/data.

Run by hand (needs the dev extra for fpdf2): ``python data/make_samples.py``. The output is committed, so
users never need ../shared. Three articles are shipped: Normans (.txt), Steam engine (.md) and Packet
switching (a multi-page PDF). Their text is from Wikipedia via SQuAD 2.0 (CC BY-SA 4.0), see NOTICE.
"""

from __future__ import annotations

import json
from pathlib import Path

from fpdf import FPDF

HERE = Path(__file__).resolve().parents[1] / "data"
SQUAD = HERE.parent.parent / "shared" / "data" / "squad2-dev-public.json"
OUT = HERE / "samples"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


def paragraphs(data: dict, title: str) -> list[str]:
    article = next(a for a in data["data"] if a["title"] == title)
    return [p["context"].strip() for p in article["paragraphs"]]


def write_pdf(path: Path, title: str, paras: list[str]) -> None:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_margins(22, 20, 22)
    if FONT.exists():
        pdf.add_font("serif", "", str(FONT))
        family = "serif"
    else:  # core fonts are Latin-1 only
        family = "Times"
        paras = [p.replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1") for p in paras]
    pdf.add_page()
    pdf.set_font(family, size=18)
    pdf.multi_cell(0, 10, title)
    pdf.ln(4)
    pdf.set_font(family, size=11)
    for para in paras:
        pdf.multi_cell(0, 5.5, para)
        pdf.ln(3)
    pdf.output(str(path))


def main() -> None:
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    OUT.mkdir(parents=True, exist_ok=True)
    normans = paragraphs(data, "Normans")
    (OUT / "normans.txt").write_text("Normans\n\n" + "\n\n".join(normans) + "\n", encoding="utf-8")
    steam = paragraphs(data, "Steam_engine")
    (OUT / "steam_engine.md").write_text("# Steam engine\n\n" + "\n\n".join(steam) + "\n", encoding="utf-8")
    write_pdf(OUT / "packet_switching.pdf", "Packet switching", paragraphs(data, "Packet_switching"))


if __name__ == "__main__":
    main()
