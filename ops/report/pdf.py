"""HTML to PDF with Debian's headless Chromium: the PDF is the very page the screen shows.

Chromium, not a Python HTML renderer, because it lays out the same CSS and inline SVG as the
browser the joint office reads the HTML in, and Debian keeps it patched.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.errors import ReportError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    """The path of an installed headless Chromium, or a ReportError saying how to get one."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(
        "no headless Chromium to render the PDF: install the Debian package chromium "
        "(bash ops/bootstrap does), or write --out report.html"
    )


def html_to_pdf(html_file: Path, pdf_file: Path, timeout_s: float = 180.0) -> None:
    """Print html_file to pdf_file (A4, no header or footer)."""
    exe = browser()
    with tempfile.TemporaryDirectory(prefix="hub-report-chromium-") as profile:
        command = [
            exe,
            "--headless",
            # As root Chromium refuses to start with its sandbox; it only reads our own file.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_file}",
            html_file.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            raise ReportError(f"Chromium did not finish the PDF in {timeout_s:.0f}s") from err
    if done.returncode != 0 or not pdf_file.exists() or pdf_file.stat().st_size == 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ReportError(f"Chromium could not print {html_file} to PDF: {' | '.join(tail)}")
