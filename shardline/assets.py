"""Airflow Asset URIs for what the pipeline publishes, shared by the DAGs (plain strings: no Airflow import)."""
from __future__ import annotations

KINDS = ("image", "text")
DATASET = {k: f"shardline://datasets/{k}/latest" for k in KINDS}        # moved by the validation gate
MODEL = {k: f"shardline://models/{k}/champion" for k in KINDS}          # the model registry after training
PREDICTIONS = {k: f"shardline://warehouse/ml/{k}_predictions" for k in KINDS}
