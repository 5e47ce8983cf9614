"""The operator's floor: the `shardline` command, the background servers and the query engines.

It sits on top: it may start jobs and training; nothing below imports it (tests/test_layout.py).
"""
