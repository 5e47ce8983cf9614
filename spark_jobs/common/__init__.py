"""Shared plumbing for the Spark jobs and the CLI: paths, session, warehouse writes, job wrapper."""
