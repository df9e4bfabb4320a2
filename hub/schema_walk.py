"""The one walk over Avro schemas: payload checks, evolution rules, documentation and the
connectors' file conversion all read schemas through it.

A schema is parsed JSON (an .avsc file) or fastavro's parsed form: a primitive name, a union
(a list), or a dict with a "type". A named type (record, enum, fixed) is defined once and then
referred to by its name. `SchemaVisitor.visit` looks such a name up, then calls the method for
the node's kind, as `ast.NodeVisitor` does for syntax trees: a subclass overrides the kinds it
cares about. Every method gets the node, the subclass's own argument (the value being checked,
the other version of a schema, a depth ...) and the path of the node in the payload.

Left alone, the visitor walks into every record field, array item, map value and union branch,
and into each named type once (a name met again, or a recursive type, is not walked twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

__all__ = ["PRIMITIVES", "Schema", "SchemaVisitor", "named_types", "non_null"]

Schema = Any  # str (primitive or type name), list (union) or dict
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

A = TypeVar("A")


class SchemaVisitor(Generic[A]):
    """Dispatch on the kind of each schema node; the defaults walk into the children."""

    def __init__(self, named: Mapping[str, Any] | None = None) -> None:
        self.named: Mapping[str, Any] = {} if named is None else named
        self._walked: set[str] = set()  # named types the default walk has been into

    def visit(self, schema: Schema, arg: A, path: str) -> None:
        """Call the method for this node's kind (a type name is looked up first)."""
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                self.primitive(schema, arg, path)
            else:
                self.visit(self.lookup(schema), arg, path)
            return
        if isinstance(schema, list):
            self.union(schema, arg, path)
            return
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical is not None and self.logical(schema, logical, arg, path):
            return
        if kind == "record":
            self.record(schema, arg, path)
        elif kind == "enum":
            self.enum(schema, arg, path)
        elif kind == "array":
            self.array(schema, arg, path)
        elif kind == "map":
            self.map(schema, arg, path)
        elif kind == "fixed":
            self.fixed(schema, arg, path)
        else:  # {"type": "long"}, or a type nested as {"type": {...}}
            self.visit(kind, arg, path)

    def lookup(self, name: str) -> Schema:
        """The named type a name refers to."""
        return self.named[name]

    # -- one method per kind; override the ones you need --------------------------------

    def primitive(self, name: str, arg: A, path: str) -> None:
        """A primitive: null, boolean, int, long, float, double, bytes or string."""

    def logical(self, schema: Mapping[str, Any], logical: str, arg: A, path: str) -> bool:
        """A node with a logicalType; True when handled, False to visit it by its type."""
        return False

    def union(self, branches: list[Schema], arg: A, path: str) -> None:
        """A union: by default every branch, at the same path."""
        for branch in branches:
            self.visit(branch, arg, path)

    def record(self, schema: Mapping[str, Any], arg: A, path: str) -> None:
        """A record: by default each field's type, at `path.field` (once per named type)."""
        if self.first_walk(schema):
            for fld in schema["fields"]:
                self.visit(fld["type"], arg, join(path, fld["name"]))

    def enum(self, schema: Mapping[str, Any], arg: A, path: str) -> None:
        """An enum (its symbols are in schema["symbols"])."""

    def array(self, schema: Mapping[str, Any], arg: A, path: str) -> None:
        """An array: by default its items, at `path[]`."""
        self.visit(schema["items"], arg, f"{path}[]")

    def map(self, schema: Mapping[str, Any], arg: A, path: str) -> None:
        """A map: by default its values, at `path{}`."""
        self.visit(schema["values"], arg, f"{path}{{}}")

    def fixed(self, schema: Mapping[str, Any], arg: A, path: str) -> None:
        """A fixed-size byte string (its size is schema["size"])."""

    def first_walk(self, schema: Mapping[str, Any]) -> bool:
        """True the first time the default walk meets this named type, False afterwards."""
        name = full_name(schema)
        if name in self._walked:
            return False
        self._walked.add(name)
        return True


def join(path: str, name: str) -> str:
    """`path.name`, or `name` at the top."""
    return f"{path}.{name}" if path else name


def full_name(schema: Mapping[str, Any]) -> str:
    """A named type's full name (fastavro's parsed form has it in "name" already)."""
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def non_null(branches: list[Schema]) -> list[Schema]:
    """The branches of a union other than "null"."""
    return [b for b in branches if b != "null"]


class _NamedTypes(SchemaVisitor[None]):
    """Collects every named type, by short and by full name."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}
        super().__init__(self.found)

    def collect(self, schema: Mapping[str, Any]) -> None:
        self.found[schema["name"]] = schema
        if "namespace" in schema:
            self.found[f"{schema['namespace']}.{schema['name']}"] = schema

    def record(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.collect(schema)
        super().record(schema, arg, path)

    def enum(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.collect(schema)

    def fixed(self, schema: Mapping[str, Any], arg: None, path: str) -> None:
        self.collect(schema)

    def lookup(self, name: str) -> Schema:
        # A name refers to a type defined (and collected) where it first appeared: walking it
        # again adds nothing, and would never end for a recursive type.
        return "null"


def named_types(schema: Schema) -> dict[str, Any]:
    """Every named type defined in a schema, by short and full name."""
    collector = _NamedTypes()
    collector.visit(schema, None, "")
    return collector.found
