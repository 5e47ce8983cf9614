"""Alerts reach a Slack-style webhook at its exact path, and no log line holds the webhook's token."""
import json
import logging

from airflow.sdk import Connection

from shardline_ops import alerts
from tests.helpers import recording_server


def test_webhook_gets_the_alert_at_its_path_and_logs_hold_no_token(caplog):
    server, requests = recording_server()
    port = server.server_address[1]
    try:
        fields = {"text": "Shardline: task x failed", "task_id": "x"}
        conns = [Connection(conn_id="a", conn_type="http", host="127.0.0.1", port=port, schema="services/T0/B0/SECRET1"),
                 Connection(conn_id="b", conn_type="http", extra=json.dumps(
                     {"url": f"http://127.0.0.1:{port}/services/T0/B0/SECRET2"}))]
        where = [alerts.send(c, fields) for c in conns]
        got = [(path, json.loads(body)) for method, path, body in requests if method == "POST"]
        assert [path for path, _ in got] == ["/services/T0/B0/SECRET1", "/services/T0/B0/SECRET2"]
        assert got[0][1] == fields
        assert where == [f"http://127.0.0.1:{port}/…"] * 2
        server.shutdown()
        server.server_close()  # refused at once: the send fails
        caplog.set_level(logging.INFO, logger="shardline_ops.alerts")
        # refused connections, and paths urllib refuses with the path quoted in its message (#44: a space, a
        # control character), each logged as the product logs a failed send
        for schema in ("services/T0/B0/SECRET3", "services/T0/B0/SECRET4 x", "services/T0/B0/SECRET5\x07x"):
            bad = Connection(conn_id="c", conn_type="http", host="127.0.0.1", port=port, schema=schema)
            try:
                alerts.send(bad, fields)
            except Exception as exc:
                assert "SECRET" in f"{exc!r}{exc}" or schema.endswith("SECRET3")  # the library's own text
                alerts.log.error("could not send: %s", alerts.failure_line(bad))
        assert "SECRET" not in caplog.text and caplog.text.count(f"127.0.0.1:{port}/…") == 3, caplog.text
    finally:
        server.server_close()


def test_shardline_run_names_each_failed_tasks_error(tmp_path, monkeypatch):
    """``dag.test`` writes no task log files: ``shardline run`` collects its tasks' alerts and names each
    failed task's error in its last line (the last alert per task, control characters escaped)."""
    from shardline_ops.cli.run import failed_tasks

    record = tmp_path / "failures.jsonl"
    monkeypatch.setenv(alerts.RUN_FAILURES, str(record))

    class TI:
        dag_id, run_id, try_number = "nightly_retrain", "manual__x", 1

        def __init__(self, task_id):
            self.task_id = task_id

    for task, exc in [("clean_text", RuntimeError("first try")), ("clean_text", ValueError("no such corpus\x1b[2J")),
                      ("publish_image", KeyError("x"))]:
        alerts.notify_failure({"task_instance": TI(task), "exception": exc})
    said = failed_tasks(["clean_text", "publish_image", "validate_text"], record)
    assert said == "clean_text (ValueError: no such corpus\\x1b[2J), publish_image (KeyError: 'x'), validate_text"
    assert failed_tasks(["a"], tmp_path / "none.jsonl") == "a"
