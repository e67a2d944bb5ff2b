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


#: measured in the page: every text box a reader reads, for overlap checks; table cells for wrapping
LAYOUT_JS = """() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; };
  const label = e => (e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ': '
                      + (e.textContent || e.alt || '').trim().slice(0, 60));
  const cells = [...document.querySelectorAll('table.results th, table.results td')].map(c => {
    const cs = getComputedStyle(c);
    let line = parseFloat(cs.lineHeight);
    if (isNaN(line)) line = 1.2 * parseFloat(cs.fontSize);
    const range = document.createRange();  // the text's own box, not the cell's (rows share one height)
    range.selectNodeContents(c);
    // lines = runs of text boxes that overlap vertically (a superscript mark shares its line)
    const rects = [...range.getClientRects()].filter(r => r.width > 0).sort((a, b) => a.top - b.top);
    let lines = 0, bottom = -Infinity;
    for (const r of rects) { if (r.top >= bottom - 1) { lines++; bottom = r.bottom; } else bottom = Math.max(bottom, r.bottom); }
    return {text: c.textContent.trim(), h: range.getBoundingClientRect().height, line: line, lines: lines,
            head: !!c.closest('thead'), table: c.closest('table').querySelector('caption').textContent};
  });
  const sel = 'h1, h2, nav.toc a, table.results caption, p.intro, p.note, figcaption, dt, dd, .gridwrap li, pre';
  const labels = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length)
                   .map(e => ({what: label(e), ...box(e)}));
  const overlaps = [];
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    const a = labels[i], b = labels[j];
    const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
    const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
    if (ox > 1 && oy > 1) overlaps.push([a.what, b.what]);
  }
  return {
    viewport: innerWidth, page_width: document.documentElement.scrollWidth,
    content_width: (() => { const cs = getComputedStyle(document.body);
      return document.body.getBoundingClientRect().width - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight); })(),
    cells: cells, overlaps: overlaps,
    // how far each table's scrolling wrapper hides its table (0: the whole table is on screen)
    scrolls: [...document.querySelectorAll('div.scroll')].filter(d => d.querySelector('table'))
               .map(d => ({table: d.querySelector('caption').textContent, hidden: d.scrollWidth - d.clientWidth})),
    images: [...document.images].map(i => ({alt: i.alt, cls: i.className, w: i.getBoundingClientRect().width,
                                           natural: i.naturalWidth, complete: i.complete,
                                           sample: !!i.closest('.sample')})),
    row_labels: [...document.querySelectorAll('.gridwrap')].map(g => ({
      labels: [...g.querySelectorAll('li')].map(li => li.textContent),
      label_h: [...g.querySelectorAll('li')].map(li => li.getBoundingClientRect().height),
      img_h: g.querySelector('img').getBoundingClientRect().height})),
    marks: [...document.querySelectorAll('sup.mark')].map(m => ({text: m.textContent, cls: m.className,
                                                                  color: getComputedStyle(m).color})),
    // how each kind of mark is drawn, whether or not this page has one
    mark_styles: Object.fromEntries(['up', 'down', 'tie'].map(k => {
      const t = document.createElement('table'); t.className = 'results';
      t.innerHTML = '<tbody><tr><td>0.5<sup class="mark ' + k + '">x</sup></td></tr></tbody>';
      document.body.appendChild(t);
      const cs = getComputedStyle(t.querySelector('sup'));
      const out = {color: cs.color, background: cs.backgroundColor, weight: cs.fontWeight};
      t.remove();
      return [k, out];
    })),
  };
}"""


def layout(html: Path, width: int, screenshot: Path | None = None) -> dict[str, Any]:
    """Load ``html`` at ``width`` px and measure it (:data:`LAYOUT_JS`): page vs viewport width,
    every results-table cell's content height against its line height (a wrapped cell is two
    lines), overlapping text boxes, rendered image widths, sample-grid row labels and the colour
    of each significance mark; optionally a full-page screenshot."""
    return _with_page(html, width, lambda page: page.evaluate(LAYOUT_JS), screenshot)


def _with_page(html: Path, width: int, fn, screenshot: Path | None = None, before_load=None) -> dict[str, Any]:
    """Open ``html`` (file://) in headless system chromium at ``width`` px, call ``before_load(page)``
    (e.g. to attach listeners), load it, return ``fn(page)``; optionally a full-page screenshot."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchError("inspecting a report needs playwright: pip install playwright (no browser download; "
                         "it drives the system chromium)") from None
    exe = find_chromium()
    if exe is None:
        raise BenchError("no chromium found; apt-get install chromium (or set AUGBENCH_CHROMIUM=/path/to/chrome)")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                       viewport={"width": width, "height": 900})
        try:
            page = browser.new_page()
            if before_load is not None:
                before_load(page)
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            info = fn(page)
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return info


PAGE_JS = """() => ({
    title: document.title,
    tables: document.querySelectorAll('table.results').length,
    rows: document.querySelectorAll('table.results tbody tr').length,
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
    text: document.body.innerText.length,
})"""


def inspect_page(html: Path, screenshot: Path | None = None, width: int = 1280) -> dict[str, Any]:
    """Load ``html`` (file://), wait for images, and return console errors, page errors, failed
    requests, the number of result tables and of images with their loaded sizes; optionally a
    full-page PNG screenshot."""
    errors: list[str] = []
    failed: list[str] = []

    def listen(page) -> None:
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: failed.append(f"{r.url[:80]}: {r.failure}"))

    info = _with_page(html, width, lambda page: page.evaluate(PAGE_JS), screenshot, before_load=listen)
    info.update(errors=errors, failed_requests=failed, chromium=find_chromium())
    return info
