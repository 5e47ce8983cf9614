"""Failure alerts for the DAGs: a clear log line, plus a notifier chosen by an Airflow connection.

``on_failure_callback=notify_failure`` (set in the DAGs' default_args) runs when a task has failed for
good (after its retries). It always logs one ``SHARDLINE ALERT`` line. If the connection
``shardline_alerts`` exists, the alert is also sent through it:

- ``conn_type`` ``http``/``https``: POSTed as JSON to the connection's URL (``{"text": ..., **fields}``,
  which Slack-style incoming webhooks accept). The URL is ``extra.url`` when given, else built from the
  connection's fields (``https://<host>[:port]/<schema>``: the path as written, not percent-encoded as
  ``Connection.get_uri()`` does, which turned ``/services/T/B/X`` into ``/services%2FT%2FB%2FX``). Logs name
  the scheme and host only: a webhook's path is its credential;
- ``conn_type`` ``fs`` (or ``file``): appended as one JSON line to the file named by ``extra.path``.

``shardline run`` also sets ``SHARDLINE_RUN_FAILURES`` to a file of its own: each alert is appended there
as one JSON line, so the run's last line can name each failed task's error (``dag.test`` writes no
task log files; the task output went to the console).

Example: ``AIRFLOW_CONN_SHARDLINE_ALERTS='{"conn_type": "fs", "extra": {"path": "/var/log/shardline-alerts.jsonl"}}'``.
A notifier that fails is logged, never raised: the alert must not hide the task's own error.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

log = logging.getLogger("shardline_ops.alerts")
CONN_ID = "shardline_alerts"
RUN_FAILURES = "SHARDLINE_RUN_FAILURES"  # set by ``shardline run``: where its tasks' alerts also go


def alert_fields(context: dict) -> dict:
    ti = context.get("task_instance") or context.get("ti")
    exc = context.get("exception")
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0] if exc is not None else "unknown error"
    fields = {
        "dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None), "try_number": getattr(ti, "try_number", None),
        "logical_date": str(context.get("logical_date")) if context.get("logical_date") else None,
        "error": f"{type(exc).__name__}: {first}" if exc is not None else first,
    }
    fields["text"] = (f"Shardline: task {fields['dag_id']}.{fields['task_id']} failed for run {fields['run_id']} "
                      f"(try {fields['try_number']}): {fields['error']}")
    return fields


def webhook_url(conn) -> str:
    """The URL to POST to: ``extra.url`` as given, or the connection's fields with the path unencoded."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    host = conn.host or ""
    if "://" in host:  # a whole URL put in the host field
        return host
    port = f":{conn.port}" if conn.port else ""
    path = (conn.schema or "").lstrip("/")
    return f"{conn.conn_type.lower()}://{host}{port}/{path}"


def redact(url: str) -> str:
    """``https://hooks.example.com/…``: what a log may say about a webhook (its path holds the token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


def send(conn, fields: dict) -> str:
    """Deliver ``fields`` through the connection; returns where it went."""
    kind = (conn.conn_type or "").lower()
    if kind in ("http", "https"):
        url = webhook_url(conn)
        req = urllib.request.Request(url, data=json.dumps(fields).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
        return redact(url)
    if kind in ("fs", "file"):
        path = Path((conn.extra_dejson or {}).get("path") or conn.host or "")
        if not str(path):
            raise ValueError(f"connection {CONN_ID} (fs) needs extra.path")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(fields) + "\n")
        return str(path)
    raise ValueError(f"connection {CONN_ID} has unsupported conn_type {conn.conn_type!r} (use http, https or fs)")


def notify_failure(context: dict) -> None:
    fields = alert_fields(context)
    log.error("SHARDLINE ALERT %s", fields["text"])
    if os.environ.get(RUN_FAILURES):
        try:
            with open(os.environ[RUN_FAILURES], "a") as f:
                f.write(json.dumps(fields) + "\n")
        except OSError as exc:
            log.error("could not record the failure for shardline run: %s", exc)
    try:
        from airflow.sdk import Connection

        conn = Connection.get(CONN_ID)
    except Exception:  # no such connection: the log line is the alert
        return
    try:
        where = send(conn, fields)
        log.info("alert sent to %s", where)
    except Exception:
        log.error("could not send the alert through connection %s: %s", CONN_ID, failure_line(conn))


def failure_line(conn) -> str:
    """What a log may say about a failed send: the exception's type, an HTTP status, the webhook's scheme and
    host. Never the exception's message: a URL's path holds the token, and libraries quote it in forms no
    pattern can be trusted to catch (a path with a space or a control character, repr-escaped)."""
    exc = sys.exc_info()[1]
    said = type(exc).__name__ if exc else "unknown error"
    status = getattr(exc, "code", None)
    if isinstance(status, int):
        said += f" (HTTP {status})"
    if (conn.conn_type or "").lower() in ("http", "https"):
        try:
            said += f" sending to {redact(webhook_url(conn))}"
        except ValueError:
            said += " (the connection's URL does not parse)"
    elif exc is not None:
        said += f": {exc}"  # a file path: no secret in it
    return said
