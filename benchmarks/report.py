"""Write a benchmark's latest numbers into its own section of docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime as _dt
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nLatest numbers from `make bench`, one section per benchmark, each measured side by side "
          "in one run. Rewritten by the benchmarks themselves; timings are never asserted in tests.\n")


def update_section(title: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = f"_Measured {_dt.date.today().isoformat()} on {platform.machine()}, {_cpus()} CPUs._"
    section = f"## {title}\n\n{stamp}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
