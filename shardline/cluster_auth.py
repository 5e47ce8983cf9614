"""Where a data folder's Spark standalone cluster (``shardline spark-cluster``) keeps its state and secret, and
the driver settings a job needs to use it. Foundation code: the jobs' session builder reads this, the
operator's server module writes it."""
from __future__ import annotations

import json
from pathlib import Path

from shardline.config import Paths, ShardlineError


def state_file(paths: Paths) -> Path:
    return paths.home / "spark-cluster.json"


def secret_file(paths: Paths) -> Path:
    return paths.home / "spark-cluster.secret"


def auth_conf(paths: Paths, master: str) -> dict[str, str]:
    """Driver settings for ``master`` when it is the cluster this data folder started; else nothing."""
    try:
        state = json.loads(state_file(paths).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("master") != master or not state.get("authenticate"):
        return {}
    try:
        secret = secret_file(paths).read_text().strip()
    except OSError as exc:
        raise ShardlineError(f"the Spark cluster at {master} needs its secret, {secret_file(paths)}: "
                             f"{exc.strerror or exc}") from None
    return {"spark.authenticate": "true", "spark.authenticate.secret": secret}
