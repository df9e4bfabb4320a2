"""Schema evolution rules (schemas/EVOLUTION.md), checked for every pair of versions.

Compatibility is FULL and transitive: the newest reader must read data written with any
earlier version (the hub replays years of log), and readers still on an earlier version must
read data written with a newer one (connectors are upgraded province by province).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import SchemaError
from hub.schema_catalog import NAMESPACE, SchemaCatalog, SchemaVersion
from hub.schema_walk import PRIMITIVES, SchemaVisitor, join


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and what to do about it."""

    subject: str  # "tip-report v1 -> v2", or a file
    path: str  # dotted path inside the schema
    rule: str  # short rule id, as numbered in EVOLUTION.md
    message: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.subject}{where}: [{self.rule}] {self.message}"


class _Pair(SchemaVisitor[Any]):
    """Walks the old version of a schema; the argument of every visit is the new version's
    node at the same place."""

    def __init__(self, old: SchemaVersion, new: SchemaVersion) -> None:
        super().__init__(old.named)
        self.old, self.new = old, new
        self.subject = f"{new.event_type} v{old.version} -> v{new.version}"
        self.found: list[Violation] = []
        self.visited: set[tuple[str, str]] = set()

    def bad(self, path: str, rule: str, message: str) -> None:
        self.found.append(Violation(self.subject, path, rule, message))

    def resolve(self, schema: Any, named: Mapping[str, Any]) -> Any:
        return named[schema] if isinstance(schema, str) and schema not in PRIMITIVES else schema

    def visit(self, old: Any, new: Any, path: str) -> None:
        """Compare what both versions share at this node, then walk on by the old one's kind."""
        old = self.resolve(old, self.old.named)
        new = self.resolve(new, self.new.named)
        if isinstance(old, list) or isinstance(new, list):
            self.compare_union(old, new, path)
            return
        old_kind = old if isinstance(old, str) else old["type"]
        new_kind = new if isinstance(new, str) else new["type"]
        if old_kind != new_kind:
            self.bad(path, "R5", f"type changed from {old_kind} to {new_kind}; add a new "
                     "field with a default instead")
            return
        if isinstance(old, str) and isinstance(new, str):
            return
        # A primitive may be written bare ("long") or as {"type": "long", ...}.
        old = {"type": old} if isinstance(old, str) else old
        new = {"type": new} if isinstance(new, str) else new
        if old.get("logicalType") != new.get("logicalType"):
            self.bad(path, "R10", f"logical type changed from {old.get('logicalType')} to "
                     f"{new.get('logicalType')}")
        if "name" in old and old["name"] != new["name"]:
            self.bad(path, "R2", f"named type renamed from {old['name']} to {new['name']}")
            return
        if "name" in old:
            # Named types recur (Place in several fields); comparing once is enough.
            if (old["name"], path) in self.visited:
                return
            self.visited.add((old["name"], path))
        if old_kind not in PRIMITIVES:
            super().visit(old, new, path)

    def record(self, old: Mapping[str, Any], new: Any, path: str) -> None:
        self.compare_record(old, new, path)

    def enum(self, old: Mapping[str, Any], new: Any, path: str) -> None:
        self.compare_enum(old, new, path)

    def array(self, old: Mapping[str, Any], new: Any, path: str) -> None:
        self.visit(old["items"], new["items"], f"{path}[]")

    def map(self, old: Mapping[str, Any], new: Any, path: str) -> None:
        self.visit(old["values"], new["values"], f"{path}{{}}")

    def fixed(self, old: Mapping[str, Any], new: Any, path: str) -> None:
        if old["size"] != new["size"]:
            self.bad(path, "R9", f"fixed size changed from {old['size']} to {new['size']}")

    def compare_union(self, old: Any, new: Any, path: str) -> None:
        if not (isinstance(old, list) and isinstance(new, list)):
            self.bad(path, "R6", "a field may not change between a union and a single type")
            return
        old_ids = [self.identity(b, self.old.named) for b in old]
        new_ids = [self.identity(b, self.new.named) for b in new]
        if old_ids[0] != new_ids[0]:
            self.bad(path, "R6", "the first branch of a union (the default's type) changed")
        if set(old_ids) != set(new_ids):
            self.bad(path, "R6", f"union branches changed from {old_ids} to {new_ids}")
            return
        for branch in old:
            ident = self.identity(branch, self.old.named)
            self.visit(branch, new[new_ids.index(ident)], f"{path}<{ident}>")

    def identity(self, schema: Any, named: Mapping[str, Any]) -> str:
        schema = self.resolve(schema, named)
        if isinstance(schema, str):
            return schema
        return str(schema.get("name") or schema.get("logicalType") or schema["type"])

    def compare_record(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        prefix = f"{path}." if path else ""
        old_fields = {f["name"]: f for f in old["fields"]}
        new_fields = {f["name"]: f for f in new["fields"]}
        for name, fld in new_fields.items():
            if name not in old_fields and "default" not in fld:
                self.bad(prefix + name, "R3", "a new field needs a default so data written "
                         "with the old version can be read")
        for name, fld in old_fields.items():
            if name not in new_fields:
                if "default" not in fld:
                    self.bad(prefix + name, "R4", "a field without a default may not be "
                             "removed: readers on the old version need it")
                continue
            self.visit(fld["type"], new_fields[name]["type"], prefix + name)

    def compare_enum(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        removed = [s for s in old["symbols"] if s not in new["symbols"]]
        if removed:
            self.bad(path, "R7", f"enum symbols removed: {removed}")
        added = [s for s in new["symbols"] if s not in old["symbols"]]
        if added and "default" not in old:
            self.bad(path, "R7", f"symbols {added} added to an enum without a default: old "
                     "readers could not read them")


class _Docs(SchemaVisitor[None]):
    """R12 over one schema: every named type and every field has a doc."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.found: list[Violation] = []

    def lookup(self, name: str) -> Any:
        return "null"  # a named type is checked where it is defined, not where it is used

    def named_doc(self, schema: Mapping[str, Any], path: str) -> None:
        if not str(schema.get("doc", "")).strip():
            self.found.append(Violation(self.label, path, "R12",
                                        f"type {schema['name']} has no doc"))

    def record(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.named_doc(schema, path)
        for fld in schema["fields"]:
            sub = join(path, fld["name"])
            if not str(fld.get("doc", "")).strip():
                self.found.append(Violation(self.label, sub, "R12", "field has no doc"))
            self.visit(fld["type"], arg, sub)

    def enum(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.named_doc(schema, path)

    def fixed(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.named_doc(schema, path)

    def map(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.visit(schema["values"], arg, f"{path}[]")  # R12 paths write a map's values so


def check_pair(old: SchemaVersion, new: SchemaVersion) -> list[Violation]:
    """Rule violations when `new` follows `old` (same event type, later version)."""
    pair = _Pair(old, new)
    if old.parsed["name"] != new.parsed["name"]:
        pair.bad("", "R1", f"record renamed from {old.parsed['name']} to {new.parsed['name']}")
        return pair.found
    pair.visit(old.parsed, new.parsed, "")
    return pair.found


def check_documentation(sv: SchemaVersion) -> list[Violation]:
    """R12: namespace, and a non-empty doc on every field and named type."""
    found: list[Violation] = []
    if not sv.parsed["name"].startswith(NAMESPACE + "."):
        found.append(Violation(sv.label, "", "R12", f"namespace must be {NAMESPACE}"))

    docs = _Docs(sv.label)
    docs.visit(sv.parsed, None, "")
    return found + docs.found


def check_catalog(catalog: SchemaCatalog) -> list[Violation]:
    """Every rule, for every version against every earlier version of its type."""
    found: list[Violation] = []
    for event_type in catalog.event_types():
        versions = catalog.versions(event_type)
        for i, new in enumerate(versions):
            found.extend(check_documentation(new))
            for old in versions[:i]:
                found.extend(check_pair(old, new))
    return found


def check_directory(directory: Path | str | None = None) -> list[Violation]:
    """Load a schema directory and check it; a load failure is itself a violation (R0)."""
    try:
        catalog = SchemaCatalog.load(directory)
    except SchemaError as err:
        return [Violation(str(directory or "schemas/"), "", "R0", str(err))]
    return check_catalog(catalog)
