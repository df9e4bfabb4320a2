"""A generated data set written as the connector's files, with its labels beside them."""

from __future__ import annotations

import csv
from pathlib import Path

from hub.matching.document_files import (
    ALERT_COLUMNS,
    RECORD_COLUMNS,
    RESCUE_COLUMNS,
    record_rows,
    write_csv,
    write_jsonl,
)
from hub.matching.labelled import LabelledData, latest_records


def write_dataset(directory: Path, data: LabelledData, fmt: str) -> dict[str, Path]:
    """alerts, records, rescues and labels files in `directory` (fmt 'jsonl' or 'csv'); the
    records file holds each record's latest registration, as a registry's export would."""
    records = latest_records(data.records)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{kind}.{fmt}" for kind in ("alerts", "records", "rescues")}
    if fmt == "jsonl":
        write_jsonl(paths["alerts"], [*data.alerts, *data.parents_dna])
        write_jsonl(paths["records"], records)
        write_jsonl(paths["rescues"], data.rescues)
    elif fmt == "csv":
        dna = {p["alert_id"]: p for p in data.parents_dna}
        write_csv(
            paths["alerts"],
            ALERT_COLUMNS,
            [{**a, "dna": dna.get(a["alert_id"], {})} for a in data.alerts],
        )
        write_csv(paths["records"], RECORD_COLUMNS, record_rows(records))
        write_csv(paths["rescues"], RESCUE_COLUMNS, data.rescues)
    else:
        raise ValueError(f"unknown format {fmt!r}: use jsonl or csv")
    paths["labels"] = directory / "labels.csv"
    with paths["labels"].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["alert_id", "other_id", "child_index"])
        for alert_id, other_id, child in data.labels:
            writer.writerow([alert_id, other_id, "" if child is None else child])
    return paths
