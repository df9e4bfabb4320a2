"""The schemas in `schemas/`: one file per event type and version, found by fingerprint.

File names are `<event-type>.v<N>.avsc`. A version's fingerprint is the SHA-256 of the
Avro parsing canonical form, so docs and defaults do not change it but any change to the
binary layout does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from hub.config import PROJECT_ROOT
from hub.errors import SchemaError, UnknownSchemaError

NAMESPACE = "org.exchangehub.events"
SCHEMA_DIR = PROJECT_ROOT / "schemas"
_FILE_NAME = re.compile(
    r"^(?P<type>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)\.v(?P<version>[1-9][0-9]*)\.avsc$"
)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one event type's payload schema."""

    event_type: str
    version: int
    fingerprint: bytes
    parsed: Any = field(repr=False)  # fastavro's parsed form, for encoding and decoding
    raw: Mapping[str, Any] = field(repr=False)  # the JSON as written, for the evolution check
    named: Mapping[str, Any] = field(repr=False)  # full name -> parsed named type
    path: Path | None = None

    @property
    def label(self) -> str:
        """`event-type v3`, for messages."""
        return f"{self.event_type} v{self.version}"


def canonical_fingerprint(parsed: Any) -> bytes:
    """SHA-256 of the Avro parsing canonical form of a parsed schema."""
    return hashlib.sha256(to_parsing_canonical_form(parsed).encode("utf-8")).digest()


def parse_version(event_type: str, version: int, raw: Mapping[str, Any],
                  path: Path | None = None) -> SchemaVersion:
    """Parse one schema document; raises SchemaError naming the file and the reason."""
    where = str(path) if path else f"{event_type} v{version}"
    if not isinstance(raw, Mapping) or raw.get("type") != "record":
        raise SchemaError(f"{where}: the top level must be an Avro record")
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(dict(raw), named_schemas=named)
    except Exception as err:  # fastavro raises several unrelated types for bad schemas
        raise SchemaError(f"{where}: not a valid Avro schema: {err}") from err
    return SchemaVersion(event_type, version, canonical_fingerprint(parsed), parsed, raw,
                         named, path)


class SchemaCatalog:
    """Every known version of every event type, indexed by type and by fingerprint."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._by_type: dict[str, dict[int, SchemaVersion]] = {}
        self._by_fp: dict[bytes, SchemaVersion] = {}
        for sv in versions:
            same = self._by_fp.get(sv.fingerprint)
            if same is not None:
                raise SchemaError(
                    f"{sv.label} has the same canonical form as {same.label}; "
                    "a new version must change the binary layout"
                )
            per_type = self._by_type.setdefault(sv.event_type, {})
            if sv.version in per_type:
                raise SchemaError(f"{sv.label} is defined twice")
            per_type[sv.version] = sv
            self._by_fp[sv.fingerprint] = sv
        for event_type, per_type in self._by_type.items():
            missing = set(range(1, max(per_type) + 1)) - set(per_type)
            if missing:
                raise SchemaError(
                    f"{event_type}: versions {sorted(missing)} are missing; versions are "
                    "numbered 1, 2, 3 ... and never deleted"
                )

    @classmethod
    def load(cls, directory: Path | str | None = None) -> SchemaCatalog:
        """Read every `<type>.v<N>.avsc` in a directory (default: the repository's schemas/)."""
        base = Path(directory) if directory is not None else SCHEMA_DIR
        if not base.is_dir():
            raise SchemaError(f"schema directory {base} does not exist")
        versions = []
        for path in sorted(base.glob("*.avsc")):
            match = _FILE_NAME.match(path.name)
            if match is None:
                raise SchemaError(f"{path}: name must look like <event-type>.v<N>.avsc")
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise SchemaError(f"{path}: cannot read JSON: {err}") from err
            versions.append(parse_version(match["type"], int(match["version"]), raw, path))
        if not versions:
            raise SchemaError(f"no .avsc files in {base}")
        return cls(versions)

    def event_types(self) -> list[str]:
        """Known event type names, sorted."""
        return sorted(self._by_type)

    def versions(self, event_type: str) -> list[SchemaVersion]:
        """Every version of an event type, oldest first."""
        per_type = self._per_type(event_type)
        return [per_type[v] for v in sorted(per_type)]

    def latest(self, event_type: str) -> SchemaVersion:
        """The newest version: what readers resolve to and writers write."""
        per_type = self._per_type(event_type)
        return per_type[max(per_type)]

    def version(self, event_type: str, version: int) -> SchemaVersion:
        """One given version; raises UnknownSchemaError."""
        try:
            return self._per_type(event_type)[version]
        except KeyError:
            raise UnknownSchemaError(f"{event_type} has no version {version}") from None

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion | None:
        """The version with this canonical-form SHA-256, or None when unknown."""
        return self._by_fp.get(bytes(fingerprint))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def _per_type(self, event_type: str) -> dict[int, SchemaVersion]:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise UnknownSchemaError(f"unknown event type {event_type!r}") from None
