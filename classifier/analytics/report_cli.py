"""``triage report SCORED --out DIR``: the analyst's report over a `triage score` output.

Registering the command imports nothing heavy: matplotlib and jinja2 (``[report]``) are imported
when a report is built, and a missing one is an E400 naming the extra to install.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="an offline HTML report (charts, trends, top terms, quotes) over a `triage score` output",
        description="Write DIR/index.html (self-contained), the charts as PNG and SVG and summary.json: "
                    "distributions, category × sentiment, the priority matrix, review share, a trend by "
                    "--date-column, top terms and PII-masked quotes per category and matrix cell, and a "
                    "comparison of the segments of a --by column.",
    )
    p.add_argument("scored", type=Path, help="a file written by `triage score` (.csv .xlsx .jsonl .parquet)")
    p.add_argument("--out", type=Path, required=True, help="folder for the report (created)")
    p.add_argument("--date-column", help="column with the date of each feedback, for the trend (day/week/month by span)")
    p.add_argument("--by", help="column whose values to compare, e.g. channel or branch (a field mapped with "
                                "`triage score --map channel=渠道` may be named by its field)")
    p.add_argument("--text-column", help="column holding the text (default: as `triage score` recorded in "
                                         "SCORED.score.json, else text)")
    p.add_argument("--prefix", help="the --prefix the file was scored with (default: as recorded, else none)")
    p.add_argument("--encoding", default="auto", help="CSV/JSONL encoding (default: auto)")
    p.add_argument("--top-terms", type=int, default=10, help="terms per category and matrix cell (default 10)")
    p.add_argument("--quotes", type=int, default=3, help="quotes per category and matrix cell (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from classifier.analytics.report import build_report
    from classifier.text.pii import mask_text  # quotes in a report are masked as stored texts are

    report = build_report(args.scored, args.out, mask_text, prefix=args.prefix, text_column=args.text_column,
                          date_column=args.date_column, by=args.by, encoding=args.encoding, top_terms=args.top_terms,
                          quotes=args.quotes)
    for note in report.summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"report: {report.html} ({report.rows:,} scored rows, {report.error_rows:,} error rows, "
          f"{len(report.charts)} charts, {report.seconds:.1f} s)")
    return 0
