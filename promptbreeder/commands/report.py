"""`promptbreeder report RUN_DIR [--out DIR]`: one self-contained HTML page and its PNG figures.

Works on any run folder with at least one snapshot: finished, still going or killed, of any genome.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from promptbreeder.reporting.figures import FIGURES, draw_figures
from promptbreeder.reporting.html import render_page
from promptbreeder.reporting.load import load_run

PAGE = "report.html"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptbreeder report",
        description="Write an HTML report of a run (figures embedded: " + ", ".join(FIGURES) + ") and the figures"
                    " as PNG files, then print the path of the page.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, e.g. day_care/<task>/runs/run_1")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write report.html and the PNGs (default: RUN_DIR/report)")
    parser.add_argument("--verbose", action="store_true", help="show a traceback when something fails")
    return parser


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the page and the figures of the run in `run_dir`; returns the page's path."""
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    figures = draw_figures(run, out)
    page = out / PAGE
    page.write_text(render_page(run, figures), encoding="utf-8")
    return page


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    print(write_report(args.run_dir, args.out), file=sys.stdout)
    return 0
