"""The layout's import directions (README "Layout"), read from the source files.

Two floors: the foundation ``shardline/`` (settings, paths, storage, cluster auth) imports no Spark, TensorFlow
or Airflow and nothing of the project above it; the operator's floor ``shardline_ops/`` (CLI, servers, query
engines) sits on top and nothing imports it but DAGs. Arrows point down: dags -> shardline, shardline_ops;
training -> shardline, schemas; jobs -> their building blocks, training's inference, shardline, schemas;
schemas -> nothing. No module imports itself back through others (no cycles).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("shardline", "shardline_ops", "spark_jobs", "training", "schemas", "dags")
HEAVY = ("tensorflow", "tf_keras", "keras", "pyspark", "petastorm")
FOUNDATION_NEVER = (*HEAVY, "airflow", "duckdb")
JOBS = sorted(p.stem for p in (REPO / "spark_jobs").glob("*.py") if p.stem != "__init__")
CLI_MAX_LINES = 250


def imports(path: Path, repo: Path = REPO) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in the file; relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(repo).with_suffix("").parts[:-1])
    top = {id(n) for n in tree.body} | {id(n) for stmt in tree.body if isinstance(stmt, (ast.If, ast.Try))
                                         for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.append((base, id(node) in top))
            out += [(f"{base}.{a.name}", id(node) in top) for a in node.names]  # `from spark_jobs import clean_text`
    return out


def violations(repo: Path = REPO) -> list[str]:
    found = []

    def under(mod: str, *roots: str) -> bool:
        return any(mod == r or mod.startswith(r + ".") for r in roots)

    for path in sorted(repo.rglob("*.py")):
        rel = path.relative_to(repo).as_posix()
        if not rel.startswith(tuple(f"{p}/" for p in PROJECT)):
            continue
        for mod, at_top in imports(path, repo):
            if rel.startswith("schemas/") and under(mod, *(p for p in PROJECT if p != "schemas")):
                found.append(f"{rel}: schemas import nothing of the project ({mod})")
            if rel.startswith("dags/"):
                if under(mod, "spark_jobs", "training", "schemas"):
                    found.append(f"{rel}: DAGs import shardline and shardline_ops only ({mod})")
                if at_top and under(mod, *HEAVY):
                    found.append(f"{rel}: no heavy import at DAG parse time ({mod})")
            if rel.startswith("training/") and under(mod, "spark_jobs", "dags"):
                found.append(f"{rel}: training never imports spark_jobs ({mod})")
            if rel.startswith("shardline/"):
                if under(mod, "spark_jobs", "training", "dags", "shardline_ops"):
                    found.append(f"{rel}: the foundation sits below everything of the project ({mod})")
                if under(mod, *FOUNDATION_NEVER):
                    found.append(f"{rel}: the foundation imports no Spark, TensorFlow, Airflow or DuckDB ({mod})")
            if rel.startswith(("spark_jobs/", "training/", "schemas/")) and under(mod, "shardline_ops"):
                found.append(f"{rel}: nothing below the operator's floor imports it ({mod})")
            if rel.startswith("shardline_ops/") and under(mod, "dags"):
                found.append(f"{rel}: nothing imports a DAG file ({mod})")
            if rel.startswith("spark_jobs/"):
                own = path.stem if path.parent.name == "spark_jobs" else None
                for job in JOBS:
                    if job != own and under(mod, f"spark_jobs.{job}"):
                        kind = "job" if own else "building block"
                        found.append(f"{rel}: a {kind} never imports a job module ({mod})")
                if under(mod, "dags"):
                    found.append(f"{rel}: jobs never import DAG files ({mod})")
        if rel.startswith("shardline_ops/cli/") and len(path.read_text().splitlines()) > CLI_MAX_LINES:
            found.append(f"{rel}: a command group stays under {CLI_MAX_LINES} lines")
    return found + cycles(repo)


def module_name(path: Path, repo: Path) -> str:
    parts = path.relative_to(repo).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles(repo: Path = REPO) -> list[str]:
    """Import cycles between the project's modules (any import, at the top or inside a function)."""
    files = {module_name(p, repo): p for p in repo.rglob("*.py")
             if p.relative_to(repo).as_posix().startswith(tuple(f"{x}/" for x in PROJECT))}
    graph = {m: sorted({t for mod, _ in imports(p, repo) for t in (mod, mod.rpartition(".")[0])
                        if t in files and t != m and not files[m].name == "__init__.py"})
             for m, p in files.items()}
    found, state = [], {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = "open"
        for t in graph[m]:
            if state.get(t) == "open":
                found.append("import cycle: " + " -> ".join(trail[trail.index(t):] + [t]))
            elif t not in state:
                visit(t, trail + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_import_directions_hold():
    assert violations() == []


def test_the_checker_catches_each_kind_of_violation(tmp_path):
    """Written files that break each rule once: the checker must name every one of them."""
    bad = {
        "schemas/s.py": "from shardline.config import Paths\n",
        "dags/d.py": "import pyspark\nfrom spark_jobs.common import job\n",
        "training/t.py": "def f():\n    from spark_jobs.common.session import build_spark\n",
        "shardline/storage2.py": "from spark_jobs.common import warehouse\n",
        "shardline/heavy.py": "def f():\n    import pyspark\n",
        "spark_jobs/common/x.py": "from shardline_ops.cli import main\n",
        "shardline_ops/cli/big.py": "x = 1\n" * 300,
        "training/a.py": "from training import b\n",
        "training/b.py": "def f():\n    from training.a import x\n",
        "spark_jobs/clean_images.py": "",
        "spark_jobs/clean_text.py": "from spark_jobs import clean_images\n",
        "spark_jobs/text/x.py": "from ..clean_text import main\n",
    }
    for rel, text in bad.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = violations(tmp_path)
    for rel in bad:
        if bad[rel] and not rel.startswith("training/"):  # the two training files break only the cycle rule
            assert any(v.startswith(rel + ":") for v in found), (rel, found)
    assert any("no heavy import" in v for v in found)
    assert any(v.startswith("import cycle: training.a -> training.b -> training.a") for v in found), found


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.slow
def test_every_job_answers_help_when_run_as_a_script(job):
    proc = subprocess.run([sys.executable, str(REPO / "spark_jobs" / f"{job}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
