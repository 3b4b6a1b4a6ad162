"""Check a written report in a real headless browser (Chromium, driven by Playwright).

Loads ``report.html`` from disk, collects console messages and page errors, counts the
verdict rows, checks that every embedded figure decoded (``naturalWidth > 0``) and saves
a full-page screenshot. Needs the ``browser`` extra (Playwright's Python package) and a
Chromium binary: ``$ICML22DL_CHROMIUM``, else ``chromium`` / ``chromium-browser`` /
``google-chrome`` on the PATH (Debian: ``apt-get install chromium``). Playwright's own
browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)  # fmt: skip


@dataclass(frozen=True)
class BrowserCheck:
    """What the browser saw."""

    console_errors: tuple[str, ...]
    verdict_rows: int
    images: int
    broken_images: int
    screenshot: Path

    @property
    def ok(self) -> bool:
        return not self.console_errors and self.broken_images == 0


def find_chromium() -> str | None:
    """The Chromium executable to use, or ``None`` when there is none."""
    explicit = os.environ.get("ICML22DL_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def check_report(html: Path, screenshot: Path | None = None, timeout_s: float = 30.0) -> BrowserCheck:
    """Open ``html`` in headless Chromium; return the console errors, rows and image counts.

    Args:
        html: the report file.
        screenshot: where to save a full-page PNG (default: ``report.png`` beside ``html``).
        timeout_s: page-load limit.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise ImportError(f"the browser check needs Playwright: pip install 'icml22dl[browser]' ({error})") from None
    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError(
            "no Chromium found: set ICML22DL_CHROMIUM or install chromium (apt-get install chromium)"
        )
    html = Path(html).resolve()
    screenshot = Path(screenshot) if screenshot else html.with_name("report.png")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(html.as_uri(), timeout=timeout_s * 1000, wait_until="load")
            rows = page.evaluate("document.querySelectorAll('#verdicts tr.claim-row').length")
            sizes = page.evaluate("Array.from(document.images).map(image => image.complete ? image.naturalWidth : 0)")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return BrowserCheck(tuple(errors), int(rows), len(sizes), sum(1 for width in sizes if width <= 0), screenshot)
