"""``shardline``: the command line of the pipeline.

    shardline run --date 2026-11-23 [--image-corpus DIR] [--text-corpus FILE] [--config FILE] [--image-size N ...]
    shardline config show [--config FILE] [overrides]
    shardline report --date 2026-11-23                        (the nightly report: one page, what the night did)
    shardline query "SELECT count(*) FROM ml.text_predictions" [--format table|csv|json] [--engine duckdb|spark]
    shardline sample-data [--out DIR]
    shardline datasets list | show VERSION | validate --kind image|text
    shardline models list | show [VERSION] | promote VERSION | rollback   (--kind image|text)
    shardline warehouse start [--port N] [--detach] | stop | status
    shardline warehouse history ml.image_predictions | vacuum [--dry-run] | migrate
    shardline query --as-of 3 "SELECT count(*) FROM ml.image_predictions"
    shardline airflow [start | stop | status] [--port N]      (Airflow UI + scheduler on 127.0.0.1)
    shardline spark-cluster start [--workers N --cores C --memory 2g] | stop | status
    spark-sql $(shardline spark-conf) -e "SELECT ..."
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from shardline.config import Paths, ShardlineError
from shardline_ops.cli import query, registry, report, run, servers, warehouse


class _Parser(argparse.ArgumentParser):
    """No abbreviated flags: ``--epoch 3`` is an error, never ``--epochs 3`` for a whole night."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("shardline")
    except PackageNotFoundError:  # run from a checkout that was never installed
        release = "unknown"
    p = _Parser(prog="shardline", description="Shardline: corpora -> shards -> models -> SQL")
    p.add_argument("--version", action="version", version=f"shardline {release}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for group in (run, query, report, registry, warehouse, servers):
        group.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `models promote --kind image V` as well as `models promote V --kind image`: argparse leaves an
    # optional positional that follows an option unparsed.
    if len(extra) == 1 and not extra[0].startswith("-") and getattr(args, "version", "") is None:
        args.version, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.WARNING)
    try:
        args.paths = Paths.from_env()  # the environment is read here, once; commands take what it gives
        return args.func(args)
    except ShardlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
