"""Streaming row readers for CSV, JSON Lines and Excel .xlsx files.

Every reader yields one SourceRow at a time and never holds the whole file. Row numbers are the
ones a person sees: for CSV and Excel the header is row 1, for JSON Lines the line number. A row
that cannot be read at all is yielded with `problem` set, so the caller can reject it and go on.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.encoding import detect_encoding
from hub.errors import InputFileError, PathError
from hub.paths import check_readable_file

# The per-cell limit is enforced later with a plain reason; csv's own limit is set far above it so
# that a huge cell becomes a rejected row rather than a reader error.
csv.field_size_limit(64 * 1024 * 1024)

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".xlsx", ".xlsm")


@dataclass
class SourceRow:
    """One data row: its number as a person sees it, its cells by header, and the raw cells."""

    number: int
    cells: dict[str, Any]
    raw: list[str] = field(default_factory=list)
    problem: str | None = None


def _clean_header(name: object) -> str:
    return str(name if name is not None else "").replace("\ufeff", "").strip()


def _check_headers(path: Path, headers: list[str]) -> list[str]:
    if not any(headers):
        raise InputFileError(f"{path.name}: the header row is empty")
    seen: set[str] = set()
    for position, name in enumerate(headers, start=1):
        if name and name in seen:
            raise InputFileError(f"{path.name}: column {position} repeats the header {name!r}")
        seen.add(name)
    return headers


def _sniff_delimiter(first_line: str) -> str:
    # Departments export with commas, tabs or semicolons; the header line decides.
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def read_csv(path: Path) -> Iterator[SourceRow]:
    """Rows of a CSV/TSV file in UTF-8 or GB18030, one at a time."""
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as handle:
        first_line = handle.readline()
        handle.seek(0)
        reader = csv.reader(handle, delimiter=_sniff_delimiter(first_line))
        try:
            header_cells = next(reader)
        except StopIteration:
            raise InputFileError(f"{path.name}: the file has no header row") from None
        headers = _check_headers(path, [_clean_header(h) for h in header_cells])
        number = 1
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield SourceRow(number, {}, [], f"the row cannot be read as CSV: {err}")
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers) :]):
                yield SourceRow(
                    number,
                    {},
                    cells,
                    f"the row has {len(cells)} cells but the header has {len(headers)} columns",
                )
                continue
            padded = cells + [""] * (len(headers) - len(cells))
            yield SourceRow(number, dict(zip(headers, padded, strict=False)), cells)


def read_jsonl(path: Path) -> Iterator[SourceRow]:
    """Objects of a JSON Lines file, one per line; keys are headers or schema field names."""
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield SourceRow(number, {}, [text], f"the line is not valid JSON: {err.msg}")
                continue
            if not isinstance(obj, dict):
                yield SourceRow(number, {}, [text], "the line is not a JSON object")
                continue
            yield SourceRow(number, {_clean_header(k): v for k, v in obj.items()}, [text])


def _excel_cell(value: object) -> object:
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    if isinstance(value, float) and value.is_integer():
        # Whole numbers come back as floats; 20090531.0 must read as the date 20090531.
        return int(value)
    return value


def _raw_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def read_xlsx(path: Path) -> Iterator[SourceRow]:
    """Rows of the first worksheet of an .xlsx workbook, streamed in read-only mode."""
    import zipfile

    from openpyxl import load_workbook

    if path.stat().st_size == 0:
        raise InputFileError(f"{path.name}: the file is empty")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise InputFileError(f"{path.name}: not a readable .xlsx workbook ({err})") from err
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        headers: list[str] | None = None
        for number, values in enumerate(rows, start=1):
            cells = [_excel_cell(v) for v in values]
            if headers is None:
                if not any(v not in (None, "") for v in cells):
                    continue
                headers = _check_headers(path, [_clean_header(v) for v in cells])
                continue
            if not any(v not in (None, "") for v in cells):
                continue
            raw = [_raw_text(v) for v in cells]
            extra = cells[len(headers) :]
            if any(v not in (None, "") for v in extra):
                yield SourceRow(number, {}, raw, "the row has cells beyond the last header column")
                continue
            padded = cells + [None] * (len(headers) - len(cells))
            yield SourceRow(number, dict(zip(headers, padded, strict=False)), raw)
        if headers is None:
            raise InputFileError(f"{path.name}: the workbook's first sheet is empty")
    finally:
        workbook.close()


def read_rows(path: Path) -> Iterator[SourceRow]:
    """Rows of any supported file, chosen by its suffix."""
    try:
        check_readable_file(path, "input file")
    except PathError as err:
        raise InputFileError(str(err)) from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix == ".xls":
        raise InputFileError(f"{path.name}: old .xls workbooks are not supported; save as .xlsx")
    raise InputFileError(
        f"{path.name}: unknown file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
    )
