"""What ``spark-submit`` runs: one module per job, and the building blocks they share (``common/``,
``imaging/``, ``text/``). Nothing here is imported by the DAGs or by training."""
