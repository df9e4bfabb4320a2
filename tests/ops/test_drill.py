"""`hubctl drill` against the real services: every probe ends as it must, nothing is lost."""

from __future__ import annotations

import pytest

from hub.config import Settings
from ops.cli import main as hubctl
from ops.drill import QUARANTINED, STORED, Drill

pytestmark = pytest.mark.services


def test_drill_finds_nothing_lost(hub_settings: Settings) -> None:
    lines: list[str] = []
    report = Drill(hub_settings, count=3, timeout=120, say=lines.append).run()
    assert report.settled and report.open_entries_kept
    for probe in report.probes:
        assert probe.lost == 0, probe.kind
        assert len(probe.sent) == 3
        got = probe.stored if probe.expected == STORED else probe.quarantined
        assert got == 3, (probe.kind, probe.stored, probe.quarantined, probe.reasons)
    kinds = {p.kind: p for p in report.probes}
    assert kinds["another unit closes an alert"].reasons == {"NOT_ENTITLED"}
    assert kinds["NUL in a signed text field"].expected == QUARANTINED
    assert report.ok
    assert lines[-1] == "namespace removed"


def test_drill_refuses_counts_out_of_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="between 1 and 500"):
        hubctl(["drill", "--count", "100000"])
