"""Screenshots of a rendered report as a reader sees it (headless system Chromium, bench.browser):
the top of the page (the verdict table and its heatmap) at desktop (1280 px) and phone (390 px)
widths, plus what the layout check measured there: tables hidden behind their scrollbar, wrapped
table cells and overlapping text boxes.

    python scripts/report_screenshots.py reports/reference/index.html reports/figures/reference-report

writes reports/figures/reference-report-desktop.png and -phone.png (the committed ones).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WIDTHS = {"desktop": (1280, 2700), "phone": (390, 2400)}  # width, and how much of the page top to keep


def main(argv: list[str] | None = None) -> None:
    from PIL import Image

    from bench.browser import layout

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("prefix", help="output path prefix: PREFIX-desktop.png, PREFIX-phone.png")
    args = ap.parse_args(argv)
    Image.MAX_IMAGE_PIXELS = None  # a full report page is tens of thousands of pixels tall
    for name, (width, keep) in WIDTHS.items():
        with tempfile.TemporaryDirectory() as tmp:
            full = Path(tmp) / "page.png"
            info = layout(args.html.resolve(), width, full)
            with Image.open(full) as im:
                im.crop((0, 0, width, min(keep, im.height))).save(f"{args.prefix}-{name}.png", optimize=True)
        hidden = [(s["table"], s["hidden"]) for s in info["scrolls"] if s["hidden"] > 0]
        wrapped = [c["text"] for c in info["cells"] if not c["head"] and c["lines"] != 1]
        print(f"{name} ({width} px): page {info['page_width']} px wide; {len(hidden)} table(s) scroll sideways"
              f"{' (' + ', '.join(f'{t}: {h} px' for t, h in hidden[:3]) + (' …' if len(hidden) > 3 else '') + ')' if hidden else ''}; "
              f"{len(wrapped)} wrapped cell(s); {len(info['overlaps'])} overlapping text box(es)")


if __name__ == "__main__":
    main()
