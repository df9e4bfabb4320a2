"""The backfill benchmark at a small size, against the real broker, database and a worker."""

from __future__ import annotations

import pytest

from bench import bench_backfill

pytestmark = pytest.mark.services


def test_a_small_backfill_indexes_every_person_and_times_alert_searches(
    services_up: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every person generated is counted as indexed (the benchmark waits for the index to hold
    them all), the figures are consistent with one another, and the output projects to 10 M."""
    figures = bench_backfill.run(240, 1, 4, seed=7, timeout=600)
    out = capsys.readouterr().out
    assert figures["persons"] == 240
    assert figures["events"] < figures["persons"]  # registrants with their children
    assert figures["persons_per_s"] == pytest.approx(figures["persons"] / figures["seconds"])
    assert 0 < figures["ratio"] < 1
    # Blocking keys, facts and their indexes: well above a few bytes, below a megabyte each.
    assert 100 < figures["index_bytes_per_person"] < 1_000_000
    assert figures["event_bytes_per_person"] > 100
    assert figures["search_p50_ms"] > 0 and figures["search_p99_ms"] >= figures["search_p50_ms"]
    # The lookups alone find the persons the index holds (in its blinded form) for these seeds.
    assert figures["candidates_p50"] > 0
    assert "projection to 10,000,000 persons" in out
    assert "not at 10,000,000" in out


def test_persons_are_drawn_from_the_seed_and_carry_valid_identity_numbers() -> None:
    """The same seed gives the same register; identity numbers pass their check digit."""
    import random

    from hub.identity import check_character

    assert bench_backfill.person(random.Random(3)) == bench_backfill.person(random.Random(3))
    rng = random.Random(11)
    numbers = [p["id_number"] for p in (bench_backfill.person(rng) for _ in range(200))
               if "id_number" in p]
    assert 100 < len(numbers) < 200
    assert all(n[17] == check_character(n[:17]) for n in numbers)
