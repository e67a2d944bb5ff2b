"""Open a report in headless Chromium and say what a reader would see.

Uses Playwright's Python package to drive the system's Chromium over the DevTools protocol
(``/usr/bin/chromium`` from Debian's ``chromium`` package; ``playwright install`` is never needed).
DevTools gives console messages and uncaught page errors directly, which is more robust than
parsing ``--enable-logging`` output of ``chromium --screenshot``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import BenchError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    for name in (os.environ.get("AUGBENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def inspect_page(html: Path, screenshot: Path | None = None, width: int = 1280) -> dict[str, Any]:
    """Load ``html`` (file://), wait for images, and return console errors, page errors, failed
    requests, the number of result tables and of images with their loaded sizes; optionally a
    full-page PNG screenshot."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchError("inspecting a report needs playwright: pip install playwright (no browser download; "
                         "it drives the system chromium)") from None
    exe = find_chromium()
    if exe is None:
        raise BenchError("no chromium found; apt-get install chromium (or set AUGBENCH_CHROMIUM=/path/to/chrome)")
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                       viewport={"width": width, "height": 900})
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: failed.append(f"{r.url[:80]}: {r.failure}"))
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            info = page.evaluate("""() => ({
                title: document.title,
                tables: document.querySelectorAll('table.results').length,
                rows: document.querySelectorAll('table.results tbody tr').length,
                images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
                headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
                text: document.body.innerText.length,
            })""")
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    info.update(errors=errors, failed_requests=failed, chromium=exe)
    return info
