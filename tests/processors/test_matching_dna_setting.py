"""The hub's allele-table setting reaches the streaming matcher (create_match_stage)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import psycopg
import pytest
from test_matching_stage import CATALOG, POLICE, Harness, _profiles, harness  # noqa: F401

from hub.matching.kinship import AlleleTable
from hub.registry import operator_key_paths
from processors.match_stage import create_match_stage
from processors.pg_matching import dna_coverage
from processors.testing import payload_for


def _ten_loci_table(directory: Path) -> Path:
    """The shipped frequencies for ten of the twenty loci: a table that does not fit."""
    shipped = AlleleTable.load()
    rows = ["locus,allele,frequency"]
    for locus in shipped.loci[:10]:
        rows += [f"{shipped.display(locus)},{a},{f}" for a, f in shipped.frequencies[locus].items()]
    directory.mkdir()
    (directory / "str_allele_frequencies.csv").write_text("\n".join(rows) + "\n", "utf-8")
    meta = {"name": "ten-loci", "kits": ["*"], "sample_size": 500}
    (directory / "table.json").write_text(json.dumps(meta), "utf-8")
    return directory


@pytest.mark.parametrize("ten_loci", [True, False], ids=["table-set", "shipped"])
def test_a_table_set_for_the_hub_is_the_one_the_stage_scores_with(
    harness: Harness, tmp_path: Path, ten_loci: bool  # noqa: F811
) -> None:
    """With HUB_ALLELE_TABLES naming a table that lacks half the loci, the trio that notifies
    with the shipped table is held back: DNA cannot notify alone."""
    tables = _ten_loci_table(tmp_path / "tables") if ten_loci else None
    settings = harness.settings.with_overrides(
        data_dir=tmp_path, allele_tables=tables, dna_theta=0.03
    )
    harness.world.operator.save(operator_key_paths(tmp_path)[0])
    made = create_match_stage(settings, CATALOG)
    assert made is not None
    stage, sender = made
    try:
        expected = "ten-loci" if ten_loci else "shipped-han-approx"
        assert stage.matcher.table.name == expected
        assert stage.matcher.table.theta == 0.03
        harness.stage = stage
        father, mother, own = _profiles(7)
        civil = "530000-civil-affairs"
        harness.world.register(civil)
        rescued = {
            "name": "无名氏",
            "sex": "FEMALE",
            "birth": {"precision": "AGE_RANGE", "age_min": 8, "age_max": 12,
                      "age_assessed_on": date(2026, 1, 5)},
        }
        notice = payload_for(
            "rescue-notice", 5, harness.world.epoch, civil, person=rescued, str_profile=own
        )
        dna = {"profile_id": "DNA-5", "alert_id": "A-510000-5", "father": father,
               "mother": mother, "sampled_on": date(2026, 1, 2), "issuing_unit": POLICE}
        harness.feed(
            harness.alert(5, {"name": "李思琪", "sex": "FEMALE",
                              "birth": {"precision": "DAY", "date": date(2016, 4, 2)}}),
            harness.world.event(civil, "rescue-notice", payload=notice),
            harness.world.event(POLICE, "parents-dna-profile", payload=dna),
        )
        notified = harness.scalar(
            "SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'"
        )
        assert notified == (0 if ten_loci else 1)
        # hubctl status: the three indexed profiles, all badly covered by the ten-loci table.
        with psycopg.connect(settings.pg_dsn) as conn, conn.cursor() as cur:
            coverage = dna_coverage(cur, stage.matcher.tables, stage.store.sealer())
        assert coverage == {expected: (3, 3 if ten_loci else 0)}
    finally:
        sender.close()
