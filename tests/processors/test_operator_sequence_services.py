"""The hub operator's one sequence: registry events and the events the pipeline signs share it.

As in the demo: participants registered with `hubctl registry` (numbered in the hub database),
then a worker that finds a match and signs match-found as the operator. `hubctl status` must
then show neither a gap nor a replay for the operator.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pipeline_support import Lane, make_lane
from rich.console import Console

from hub.config import Settings
from hub.identity import HUB_OPERATOR_ID, check_character
from hub.registry import operator_key_paths
from ops.cli import main as hubctl
from ops.cli.pipeline import render
from ops.cli.registry import read_events
from processors.operations import snapshot
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

SICHUAN_POLICE = "510000-police"
JIANGSU_POLICE = "320000-police"
JIANGSU_REGISTRY = "320000-migrant-registry"
CHILD = {
    "name": "李小红",
    "sex": "FEMALE",
    "birth": {"precision": "DAY", "date": date(2016, 3, 5)},
    "id_number": "51010420160305122" + check_character("51010420160305122"),
    "marks": ["左耳后有痣"],
}


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path / "data") as made:
        private, public = operator_key_paths(made.settings.data_dir)
        made.world.operator.save(private)  # what `hubctl registry init` leaves behind
        public.write_text(made.world.operator.verify_key.base64 + "\n", encoding="ascii")
        for name, value in made.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)  # hubctl registry writes each participant's bundle here
        # The participants' events are published after hubctl registered them (now).
        made.world.epoch = datetime.now(UTC) + timedelta(seconds=30)
        yield made


def _register_with_hubctl(lane: Lane, out: Path) -> None:
    for pid in (SICHUAN_POLICE, JIANGSU_POLICE, JIANGSU_REGISTRY):
        lane.world.register(pid)  # only for the participant's key: these events are not sent
        public = lane.world.keys[pid].verify_key.base64
        assert hubctl(["registry", "register", pid, "--name", pid, "--public-key", public,
                       "--out", str(out)]) == 0


def _operator_row(lane: Lane) -> list[str]:
    """The operator's row of the publishers table `hubctl status` prints."""
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(render(snapshot(lane.settings, stuck_after=None)))
    text = console.export_text()
    line = next(row for row in text.splitlines() if HUB_OPERATOR_ID in row)
    return [cell.strip() for cell in re.split(r"[│|┃]", line) if cell.strip()]


def test_status_shows_no_gap_and_no_replay_for_the_operator(lane: Lane, tmp_path: Path) -> None:
    """Registry events from hubctl and the worker's match-found form one gapless sequence."""
    out = tmp_path / "registrations.b64"
    _register_with_hubctl(lane, out)
    registrations = read_events(out)
    assert len(registrations) == 6  # participant and key, for three participants
    lane.publish(registrations, "registry")
    lane.start(1)
    alert = payload_for("missing-person-alert", 1, lane.world.epoch, SICHUAN_POLICE,
                        person=CHILD, jurisdiction="510000",
                        last_seen_place={"area_code": "510104", "text": "成都市锦江区某小区"})
    record = payload_for("migrant-record", 1, lane.world.epoch, JIANGSU_REGISTRY,
                         moved_in_on=date(2026, 1, 10),
                         children=[{"child": dict(CHILD, name="李晓红"),
                                    "guardian_relation": "NON_RELATIVE"}])
    lane.publish([lane.world.event(SICHUAN_POLICE, "missing-person-alert", payload=alert)])
    lane.publish([lane.world.event(JIANGSU_REGISTRY, "migrant-record", payload=record)])
    query = ("SELECT count(*) FROM event_store WHERE publisher_id = %s "
             "AND event_type = 'match-found'")
    lane.wait_for("the operator's match-found stored",
                  lambda: lane.scalar(query, HUB_OPERATOR_ID) >= 1, timeout=240)
    row = _operator_row(lane)
    # publisher, last seq, events, gaps, replays, dups, last seen
    assert row[0] == HUB_OPERATOR_ID
    assert int(row[2]) > len(registrations)  # the registry's events and the pipeline's
    assert row[1] == row[2]  # numbered 1, 2, ... up to the count: no number skipped
    assert (row[3], row[4]) == ("0", "0")
    assert lane.scalar("SELECT count(*) FROM sequence_anomalies WHERE publisher_id = %s",
                       HUB_OPERATOR_ID) == 0
