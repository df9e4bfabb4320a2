"""The connector's document files: JSON Lines or CSV with Chinese column headers, both ways.

One file per kind (alerts, records, rescues). In JSON Lines a line is one event payload; an alerts
file may also hold parents-dna-profile payloads (recognised by `profile_id`). In CSV a row is one
person: a record's accompanying children are rows of their own carrying the record number and
a child index, and the parents' STR profiles sit in the alert's row.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.matching.labelled import Payload

SEX_CN = {"MALE": "男", "FEMALE": "女", "UNKNOWN": "未知"}
SEX_FROM_CN = {v: k for k, v in SEX_CN.items()}

_PERSON = (
    ("姓名", "name"),
    ("姓名类型", "name_kind"),
    ("曾用名", "former_names"),
    ("别名绰号", "aliases"),
    ("性别", "sex"),
    ("出生日期精度", "birth.precision"),
    ("出生日期", "birth.date"),
    ("最小年龄", "birth.age_min"),
    ("最大年龄", "birth.age_max"),
    ("年龄评估日期", "birth.age_assessed_on"),
    ("身份证号", "id_number"),
    ("体表特征", "marks"),
)
ALERT_COLUMNS = (
    ("预警编号", "alert_id"),
    ("案件类型", "case_type"),
    *((h, "person." + k) for h, k in _PERSON),
    ("户籍地", "household_registration"),
    ("最后出现地点", "last_seen_place"),
    ("最后出现时间", "last_seen_at"),
    ("紧急程度", "urgency"),
    ("发布单位", "issuing_unit"),
    ("管辖区", "jurisdiction"),
    ("报案时间", "reported_at"),
    ("父亲STR分型", "dna.father"),
    ("母亲STR分型", "dna.mother"),
)
RECORD_COLUMNS = (
    ("登记编号", "record_id"),
    ("子女序号", "child_index"),
    ("监护关系", "guardian_relation"),
    *((h, "person." + k) for h, k in _PERSON),
    ("户籍地", "household_registration"),
    ("居住地", "current_address"),
    ("入住日期", "moved_in_on"),
    ("登记日期", "registered_on"),
    ("登记单位", "registering_station"),
)
RESCUE_COLUMNS = (
    ("救助编号", "rescue_id"),
    *((h, "person." + k) for h, k in _PERSON),
    ("救助时间", "rescued_at"),
    ("救助地点", "rescue_place"),
    ("被拐出地", "trafficked_from"),
    ("安置机构", "placement.institution"),
    ("安置地", "placement.area_code"),
    ("STR分型", "str_profile"),
    ("发布单位", "issuing_unit"),
)
_LISTS = {"former_names", "aliases", "marks"}
_PLACES = {
    "household_registration",
    "last_seen_place",
    "current_address",
    "rescue_place",
    "trafficked_from",
}
_PROFILES = {"dna.father", "dna.mother", "str_profile"}
_PROFILE_META = ("kit", "lab", "population")
_DATES = {"birth.date", "birth.age_assessed_on", "moved_in_on", "registered_on"}
_INSTANTS = {"last_seen_at", "reported_at", "rescued_at"}
_INTS = {"birth.age_min", "birth.age_max", "child_index"}


@dataclass
class ReadResult:
    """Payloads read from a file, and one message per unreadable row (kept, not lost)."""

    payloads: list[Payload] = field(default_factory=list)
    parents_dna: list[Payload] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_jsonl(path: Path, payloads: Iterable[Payload]) -> int:
    """One payload per line; dates as ISO strings. Returns the number of lines."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for payload in payloads:
            handle.write(json.dumps(payload, ensure_ascii=False, default=_json_default) + "\n")
            count += 1
    return count


def record_rows(records: Iterable[Payload]) -> list[Payload]:
    """Migrant records as rows: the registrant, then one row per accompanying child."""
    rows = []
    for record in records:
        rows.append({**record, "child_index": None, "guardian_relation": None})
        for i, entry in enumerate(record.get("children") or []):
            rows.append(
                {
                    **record,
                    "person": entry["child"],
                    "child_index": i,
                    "guardian_relation": entry.get("guardian_relation"),
                }
            )
    return rows


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _cell(key: str, value: Any) -> str:
    leaf = key.split(".")[-1]
    if value is None:
        return ""
    if leaf in _LISTS:
        return "、".join(value)
    if key.endswith("sex"):
        return str(SEX_CN.get(value, value))
    if key in _PLACES:
        return str(value.get("area_code", ""))
    if key in _PROFILES:
        # Kit, lab and population lead the cell as name=value parts (no locus has these names).
        meta = [f"{k}={value[k]}" for k in _PROFILE_META if value.get(k)]
        return ";".join(
            meta + [f"{loc['locus']}={'/'.join(loc['alleles'])}" for loc in value.get("loci", [])]
        )
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def write_csv(path: Path, columns: tuple[tuple[str, str], ...], rows: Iterable[Payload]) -> None:
    # utf-8-sig so that spreadsheet programs on Chinese Windows open it with the right encoding.
    """Write rows under (header, dotted path) columns, for spreadsheets on Chinese Windows."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([h for h, _ in columns])
        for row in rows:
            writer.writerow([_cell(k, _get(row, k)) for _, k in columns])


_COLUMNS = {"alerts": ALERT_COLUMNS, "records": RECORD_COLUMNS, "rescues": RESCUE_COLUMNS}
_ID_KEY = {"alerts": "alert_id", "records": "record_id", "rescues": "rescue_id"}


def read_documents(path: Path, kind: str) -> ReadResult:
    """Payloads of one kind ('alerts', 'records', 'rescues') from a .jsonl or .csv file.

    This is the one place the batch matcher reads files; the connector's readers can replace it.
    """
    if kind not in _COLUMNS:
        raise ValueError(f"unknown document kind {kind!r}")
    if path.suffix.lower() == ".csv":
        return _read_csv(path, kind)
    return _read_jsonl(path, kind)


def stream_documents(path: Path, kind: str, errors: list[str]) -> Iterator[Payload]:
    """Payloads of one kind one by one, each unreadable row's message added to `errors`.

    A JSON Lines file is read line by line, so that a large records file is never held whole
    (its parsed lines took a third of the batch matcher's memory); a CSV file's rows are read
    first (a record's children are rows that may come later). An alerts file's parents' DNA
    profiles are yielded too: `read_documents` tells them apart.
    """
    if kind not in _COLUMNS:
        raise ValueError(f"unknown document kind {kind!r}")
    if path.suffix.lower() == ".csv":
        read = _read_csv(path, kind)
        errors.extend(read.errors)
        yield from read.payloads
        yield from read.parents_dna
        return
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as err:
                errors.append(f"{path} line {line_no}: not JSON ({err.msg})")
                continue
            if not isinstance(doc, dict):
                errors.append(f"{path} line {line_no}: not a JSON object")
            elif kind == "alerts" and "profile_id" in doc:
                yield doc
            elif not doc.get(_ID_KEY[kind]):
                errors.append(f"{path} line {line_no} field {_ID_KEY[kind]}: missing")
            else:
                yield doc


def _read_jsonl(path: Path, kind: str) -> ReadResult:
    result = ReadResult()
    for doc in stream_documents(path, kind, result.errors):
        if kind == "alerts" and "profile_id" in doc:
            result.parents_dna.append(doc)
        else:
            result.payloads.append(doc)
    return result


def _parse_cell(path: str, text: str) -> Any:
    key = path.removeprefix("person.")
    leaf = key.split(".")[-1]
    if text == "":
        return [] if leaf in _LISTS else None
    if leaf in _LISTS:
        return [part.strip() for part in text.replace(",", "、").split("、") if part.strip()]
    if key.endswith("sex"):
        if text not in SEX_FROM_CN and text.upper() not in SEX_CN:
            raise ValueError(f"{text!r} is not 男/女/未知")
        return SEX_FROM_CN.get(text, text.upper())
    if key in _PLACES:
        return {"area_code": text, "text": ""}
    if key in _PROFILES:
        loci = []
        meta: dict[str, str | None] = {"kit": "unknown", "lab": None}
        for part in text.split(";"):
            locus, _, alleles = part.partition("=")
            if locus.strip().lower() in _PROFILE_META:
                meta[locus.strip().lower()] = alleles.strip() or None
                continue
            pair = [a.strip() for a in alleles.split("/") if a.strip()]
            if not locus.strip() or len(pair) not in (1, 2):
                raise ValueError(f"{part!r} is not LOCUS=a/b")
            loci.append({"locus": locus.strip(), "alleles": [pair[0], pair[-1]]})
        return {**meta, "loci": loci}
    if key in _INTS:
        try:
            return int(text)
        except ValueError as err:
            raise ValueError(f"{text!r} is not a whole number") from err
    if key in _DATES or key in _INSTANTS:
        try:
            (dt.datetime if key in _INSTANTS else dt.date).fromisoformat(text)
        except ValueError as err:
            raise ValueError(f"{text!r} is not an ISO date") from err
    return text


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


def _read_csv(path: Path, kind: str) -> ReadResult:
    result = ReadResult()
    columns = dict(_COLUMNS[kind])
    records: dict[str, Payload] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [h for h in columns if h not in (reader.fieldnames or [])]
        if missing:
            result.errors.append(f"{path}: missing columns {', '.join(missing)}")
            return result
        for row_no, row in enumerate(reader, start=2):
            doc: dict[str, Any] = {}
            bad = False
            for header, key in columns.items():
                try:
                    _put(doc, key, _parse_cell(key, (row.get(header) or "").strip()))
                except ValueError as err:
                    result.errors.append(f"{path} row {row_no} column {header}: {err}")
                    bad = True
            doc_id = doc.get(_ID_KEY[kind])
            if not doc_id:
                result.errors.append(f"{path} row {row_no} column {_first_header(kind)}: missing")
                bad = True
            if bad:
                continue
            _place_row(kind, doc, records, result)
    result.payloads.extend(records.values())
    return result


def _first_header(kind: str) -> str:
    return _COLUMNS[kind][0][0]


def _place_row(
    kind: str, doc: dict[str, Any], records: dict[str, Payload], result: ReadResult
) -> None:
    dna = doc.pop("dna", None)
    if kind == "alerts":
        result.payloads.append(doc)
        if dna and (dna.get("father") or dna.get("mother")):
            result.parents_dna.append(
                {"profile_id": f"csv-{doc['alert_id']}", "alert_id": doc["alert_id"], **dna}
            )
        return
    if kind == "rescues":
        result.payloads.append(doc)
        return
    index = doc.pop("child_index")
    relation = doc.pop("guardian_relation")
    record = records.setdefault(doc["record_id"], {**doc, "children": []})
    if index is None:
        children = record["children"]
        record.update(doc)
        record["children"] = children
    else:
        record["children"].append(
            {
                "child": doc["person"],
                "guardian_relation": relation or "UNKNOWN",
                "relation_text": None,
            }
        )
