"""The project's layers import one way: hub at the bottom, adapters above it, ops on top.

Read from the source (every import statement, also those inside functions), so a new module
cannot slip past: hub imports none of the others; connectors and processors import hub only;
the labelled-data generator (synthetic) imports hub only; ops may use all of them; bench and tests
may use anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "connectors", "processors", "synthetic", "ops", "bench")
ALLOWED = {
    "hub": {"hub"},
    "connectors": {"hub", "connectors"},
    "processors": {"hub", "processors"},
    "synthetic": {"hub", "synthetic"},
    "ops": {"hub", "connectors", "processors", "synthetic", "ops"},
    "bench": set(PACKAGES),
}
ADAPTERS = {"kafka", "faust", "aiokafka", "psycopg", "psycopg_pool"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _violations() -> list[str]:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            imported = _imports(path)
            for other in sorted((imported & set(PACKAGES)) - ALLOWED[package]):
                wrong.append(f"{path.relative_to(ROOT)} imports {other}")
            if package == "hub":
                for adapter in sorted(imported & ADAPTERS):
                    wrong.append(f"{path.relative_to(ROOT)} imports {adapter}")
    return wrong


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert _violations() == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ops.topics import topic_name\n    import kafka\n")
    assert _imports(module) == {"ops", "kafka"}


def test_hubctl_bench_names_every_benchmark_the_runner_knows() -> None:
    """hubctl cannot import bench/ for its --help, so its list is checked here."""
    from bench.runner import BENCHES

    help_text = (ROOT / "ops" / "cli" / "bench.py").read_text(encoding="utf-8")
    assert [name for name in BENCHES if name not in help_text] == []
