"""DAG parse time (issue: nightly operation in Airflow): what the DAG processor pays per file.

In one run, each in a fresh interpreter with Airflow and the Spark provider already imported (the DAG
processor has them loaded): the seconds to execute each of the project's DAG files, next to a minimal
one-task DAG file (the baseline), median of 5. Also lists any heavy library (TensorFlow, Spark,
petastorm) a DAG file imports. Writes the table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/dag_parse.py
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import update_section  # noqa: E402

MINIMAL = '''
import pendulum
from airflow.sdk import dag, task

@dag(dag_id="minimal", schedule="0 2 * * *", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def minimal():
    @task
    def noop():
        return 1
    noop()

minimal()
'''
PROBE = ("import json, runpy, sys, time; import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit; "
         "t = time.perf_counter(); runpy.run_path(sys.argv[1]); s = time.perf_counter() - t; "
         "print(json.dumps({'seconds': s, 'heavy': [m for m in ('tensorflow', 'pyspark', 'petastorm', 'tf_keras') "
         "if m in sys.modules]}))")


def parse(path: Path, repeats: int = 5) -> tuple[float, list[str]]:
    times, heavy = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True,
                             cwd=REPO)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(result["seconds"])
        heavy = result["heavy"]
    return statistics.median(times), heavy


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        base, _ = parse(minimal)
    lines = ["| DAG file | parse time (s, median of 5) | vs a minimal one-task DAG | heavy imports |", "|---|---:|---:|---|"]
    lines.append(f"| minimal one-task DAG (baseline) | {base:.3f} | 1.0 | – |")
    for path in sorted((REPO / "dags").glob("*.py")):
        seconds, heavy = parse(path)
        lines.append(f"| `dags/{path.name}` | {seconds:.3f} | {seconds / base:.1f} | {', '.join(heavy) or 'none'} |")
        print(f"{path.name}: {seconds:.3f} s ({seconds / base:.1f}x the minimal DAG); heavy imports: {heavy or 'none'}")
    body = "\n".join(lines) + """

`benchmarks/dag_parse.py`: seconds to execute each DAG file in a fresh interpreter that has already imported
Airflow and the Spark provider (as the DAG processor has), next to a minimal one-task DAG. The aim is under
2 s per file; tests check only that no heavy library is imported, never the time.
"""
    update_section("DAG parse time", body)


if __name__ == "__main__":
    main()
