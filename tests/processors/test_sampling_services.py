"""DNA sampling on the live streams: real Kafka, PostgreSQL and a detached worker. The request
passes verification as a hub-operator event, reaches the police of residence, and the police's
sample comes back through ingest and notifies the alert's unit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import Lane, make_lane
from test_matching_services import inboxes
from test_sampling_stage import RENAMED, _profiles

from hub.config import Settings
from hub.registry import operator_key_paths
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

SICHUAN_POLICE = "510000-police"
JIANGSU_POLICE = "320000-police"
JIANGSU_REGISTRY = "320000-migrant-registry"
GIRL = {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2015, 6, 1)}}
LOST = datetime(2019, 4, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        made.world.operator.save(operator_key_paths(made.settings.data_dir)[0])
        made.register(SICHUAN_POLICE, JIANGSU_POLICE, JIANGSU_REGISTRY)
        yield made


def _kinds(lane: Lane, pid: str) -> list[dict[str, Any]]:
    return inboxes(lane).get(pid, [])


def test_request_reaches_police_of_residence_and_the_sample_notifies_the_alerts_unit(
    lane: Lane,
) -> None:
    """Alert with parents' DNA, a renamed child without identity number: a request to Jiangsu
    police; their dna-sample makes a TRIO hit for the Sichuan unit; nothing is quarantined."""
    father, mother, own = _profiles(11)
    alert = payload_for("missing-person-alert", 1, lane.world.epoch, SICHUAN_POLICE, person=GIRL,
                        last_seen_at=LOST, reported_at=LOST)
    dna = {"profile_id": "DNA-1", "alert_id": "A-510000-1", "father": father, "mother": mother,
           "sampled_on": date(2019, 4, 5), "issuing_unit": SICHUAN_POLICE}
    record = payload_for("migrant-record", 1, lane.world.epoch, JIANGSU_REGISTRY,
                         registered_on=date(2021, 3, 1), moved_in_on=date(2021, 3, 1))
    record["children"] = [{"child": RENAMED, "guardian_relation": "NON_RELATIVE"}]
    lane.start(1)
    lane.publish([lane.world.event(SICHUAN_POLICE, "missing-person-alert", payload=alert),
                  lane.world.event(SICHUAN_POLICE, "parents-dna-profile", payload=dna)])
    lane.wait_for("the alert indexed",
                  lambda: lane.scalar("SELECT count(*) FROM match_alerts") == 1, timeout=180)
    lane.publish([lane.world.event(JIANGSU_REGISTRY, "migrant-record", payload=record)])
    lane.wait_for(
        "a sampling request in the Jiangsu police inbox",
        lambda: any(n["kind"] == "DNA_SAMPLING_REQUEST" for n in _kinds(lane, JIANGSU_POLICE)),
        timeout=240,
    )
    [request] = [n for n in _kinds(lane, JIANGSU_POLICE) if n["kind"] == "DNA_SAMPLING_REQUEST"]
    assert request["reasons"] == ["NO_ID_NUMBER", "NOT_SON_OR_DAUGHTER"]
    assert request["alert_ids"] == ["A-510000-1"]
    assert _kinds(lane, SICHUAN_POLICE) == []
    sample = {"sample_id": "S-1", "request_id": request["request_id"], "record_id": "M-320000-1",
              "child_index": 0, "str_profile": own, "sampled_on": date(2021, 4, 1),
              "issuing_unit": JIANGSU_POLICE}
    lane.publish([lane.world.event(JIANGSU_POLICE, "dna-sample", payload=sample)])
    lane.wait_for("a DNA hit for the alert's unit",
                  lambda: len(_kinds(lane, SICHUAN_POLICE)) == 1, timeout=240)
    [hit] = _kinds(lane, SICHUAN_POLICE)
    assert (hit["dna"]["kind"], hit["dna"]["conclusion"]) == ("TRIO", "SUPPORTED")
    assert hit["counterpart"]["id"] == "M-320000-1" and hit["counterpart"]["child_index"] == 0
    lane.wait_for("the request stored as a hub-operator event", lambda: lane.scalar(
        "SELECT publisher_id FROM event_store WHERE event_type = 'dna-sampling-request'"
    ) == "000000-hub-operator")
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0
