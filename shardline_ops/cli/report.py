"""`shardline report --date D`: the nightly report of a date (what the DAG's last task writes), on demand."""
from __future__ import annotations

import argparse

from shardline.config import parse_date


def cmd_report(args: argparse.Namespace) -> int:
    from shardline_ops.night_report import write

    page = write(args.paths, parse_date(args.date))
    print(page.as_uri())
    return 0


def add_parsers(sub) -> None:
    rep = sub.add_parser("report", help="write the nightly report of a date: <data>/reports/night/dt=<date>/index.html")
    rep.add_argument("--date", required=True, help="the night, YYYY-MM-DD")
    rep.set_defaults(func=cmd_report)
