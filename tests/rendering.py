"""Render what users print through LibreOffice to PDF and read it back with poppler (pdfinfo, pdftotext).

``render`` returns the page count, each page's text (layout kept) and the median height of the words
on each page in points: a sheet scaled down to fit a page wide shows as small words.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Rendered:
    pdf: Path
    pages: list[str]
    #: page number (1-based) → median word height in points.
    word_heights: dict[int, float]
    #: The whole text in reading order (pdftotext without -layout): a table cell's lines stay together.
    raw: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    def squeezed(self) -> str:
        """All text without white space: a cell's text wrapped over lines is found whole."""
        return re.sub(r"\s+", "", self.raw)


def tools() -> tuple[str, str, str]:
    """soffice, pdftotext and pdfinfo, or a skip (a failure on CI, where .ci/run installs them)."""
    found = (shutil.which("soffice") or shutil.which("libreoffice"), shutil.which("pdftotext"), shutil.which("pdfinfo"))
    if not all(found):
        message = ("LibreOffice or poppler-utils is missing: apt-get install -y libreoffice-calc libreoffice-writer "
                   "poppler-utils fonts-noto-cjk")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found  # type: ignore[return-value]


def render(source: Path, out_dir: Path) -> Rendered:
    soffice, pdftotext, pdfinfo = tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{out_dir / 'lo-profile'}", "--headless", "--convert-to", "pdf",
         "--outdir", str(out_dir), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    pdf = out_dir / (source.stem + ".pdf")
    info = subprocess.run([pdfinfo, str(pdf)], check=True, capture_output=True, text=True).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    pages = [subprocess.run([pdftotext, "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"], check=True,
                            capture_output=True, text=True).stdout for n in range(1, count + 1)]
    bbox = subprocess.run([pdftotext, "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    heights: dict[int, float] = {}
    for n, page in enumerate(bbox.split("<page ")[1:], start=1):
        hs = sorted(float(b) - float(a) for a, b in re.findall(r'yMin="([\d.]+)"[^>]*yMax="([\d.]+)"', page))
        heights[n] = hs[len(hs) // 2] if hs else 0.0
    raw = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return Rendered(pdf, pages, heights, raw)
