"""Every producer of the hub's own code waits for all in-sync replicas (acks=all).

On a three-broker cluster a write acknowledged by its leader alone is lost if that broker dies
before a follower copied it; with acks=all and min.insync.replicas=2 it is not. The producers are
found in the source, so a new one that forgets is caught here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("connectors", "processors", "ops", "hub")


def _text(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)  # "all", -1 ...
    except ValueError:
        return None


def _acks_in_scope(scope: ast.AST) -> set[object]:
    """Values given to an "acks" key of dict literals in the scope (for `**config` calls)."""
    found = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and _text(key) == "acks":
                    found.add(_text(value))
    return found


def _producer_calls() -> list[tuple[str, ast.Call, ast.AST]]:
    calls: list[tuple[str, ast.Call, ast.AST]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for scope in ast.walk(tree):
                if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(scope):
                    if isinstance(node, ast.Call):
                        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                        if name in ("KafkaProducer", "AIOKafkaProducer", "App"):
                            where = f"{path.relative_to(ROOT)}:{node.lineno}"
                            calls.append((where, node, scope))
    return calls


def test_every_producer_waits_for_all_in_sync_replicas() -> None:
    """Each KafkaProducer passes acks="all" (or a config dict saying so); Faust's app -1."""
    calls = _producer_calls()
    assert any("KafkaProducer" in ast.dump(c.func) for _, c, _ in calls), "no producer found"
    wrong = []
    for where, call, scope in calls:
        name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        keywords = {k.arg: _text(k.value) for k in call.keywords if k.arg is not None}
        if name == "App":
            if "broker" in keywords and keywords.get("producer_acks") != -1:
                wrong.append(f"{where}: faust.App without producer_acks=-1")
            continue
        if "acks" in keywords:
            if keywords["acks"] not in ("all", -1):
                wrong.append(f"{where}: acks={keywords['acks']!r}")
        elif not (any(k.arg is None for k in call.keywords)
                  and _acks_in_scope(scope) <= {"all", -1} and _acks_in_scope(scope)):
            wrong.append(f"{where}: no acks='all'")
    assert not wrong, wrong
