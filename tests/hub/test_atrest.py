"""Sealing rescued persons' data at rest: keys, binding, the clear view (hub.atrest)."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from contract_samples import T0, catalog, sample_payloads

from hub.atrest import (
    QUARANTINE_CASE_PREFIX,
    blind_key,
    case_of,
    clear_view,
    destroy_hub_key,
    ensure_hub_key,
    load_hub_keys,
    new_data_key,
    new_hub_key,
    open_bytes,
    quarantine_case,
    redacted_explanation,
    seal_bytes,
    unwrap,
    wrap,
)
from hub.envelope import seal
from hub.errors import SealError
from hub.keys import generate_keypair


class TestKeys:
    def test_wrapped_key_opens_only_under_its_hub_key_and_case(self) -> None:
        """A data key unwraps with its hub key for its case; another hub key or case fails."""
        hub, other = new_hub_key(), new_hub_key()
        key = new_data_key("R-1")
        wrapped = wrap(hub, key)
        assert unwrap(hub, "R-1", wrapped).secret == key.secret
        with pytest.raises(SealError):
            unwrap(other, "R-1", wrapped)
        with pytest.raises(SealError):
            unwrap(hub, "R-2", wrapped)

    def test_hub_key_file_is_private_and_destroyed_for_good(self, tmp_path: Path) -> None:
        """The hub key is made once as a 0600 file; destroying it removes the file."""
        folder = tmp_path / "hub-keys" / "db"
        key = ensure_hub_key(folder)
        assert ensure_hub_key(folder).key_id == key.key_id
        path = folder / f"{key.key_id}.key"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert load_hub_keys(folder)[key.key_id].secret == key.secret
        destroy_hub_key(folder, key.key_id)
        assert not path.exists() and load_hub_keys(folder) == {}


class TestSealing:
    def test_sealed_bytes_are_bound_to_event_and_label(self) -> None:
        """Ciphertext opens for its event and label only, and never shows the plain text."""
        key = new_data_key("R-1")
        sealed = seal_bytes(key, "e-1", "wire", "张小花".encode())
        assert "张小花".encode() not in sealed
        assert open_bytes(key, "e-1", "wire", sealed) == "张小花".encode()
        for event_id, label in (("e-2", "wire"), ("e-1", "body")):
            with pytest.raises(SealError):
                open_bytes(key, event_id, label, sealed)
        with pytest.raises(SealError):
            open_bytes(new_data_key("R-1"), "e-1", "wire", sealed)

    def test_blocking_keys_stay_equal_but_hide_their_text(self) -> None:
        """Equal keys give equal hashes, a name does not show, and DNA keys keep their group."""
        secret = b"s" * 32
        assert blind_key(secret, "sn:zhangx:2010:F") == blind_key(secret, "sn:zhangx:2010:F")
        assert "zhang" not in blind_key(secret, "sn:zhangx:2010:F")
        assert blind_key(secret, "dna:D3S1358:15/16").startswith("dna:D3S1358:")
        assert blind_key(secret, "dnag:D3S1358") == "dnag:D3S1358"
        assert blind_key(b"t" * 32, "sn:zhangx:2010:F") != blind_key(secret, "sn:zhangx:2010:F")


class TestClearView:
    def test_rescue_notice_keeps_no_name_number_address_or_account(self) -> None:
        """The clear view of a rescue notice holds what reports count by and nothing personal."""
        body = dict(sample_payloads()["rescue-notice"])
        view = clear_view("rescue-notice", body)
        text = repr(view)
        person = body["person"]
        for personal in (person.get("name"), person.get("id_number"),
                         body["rescue_place"]["text"], body.get("own_account"),
                         body["placement"].get("institution")):
            if personal:
                assert personal not in text, personal
        assert view["rescue_id"] == body["rescue_id"]
        assert view["person"]["sex"] == person["sex"]
        assert view["placement"]["kind"] == body["placement"]["kind"]
        assert view["rescue_place"]["area_code"] == body["rescue_place"]["area_code"]

    def test_cases_of_event_types(self) -> None:
        """Notices and follow-ups are sealed by their rescue id, hits on a rescued person by
        the counterpart; other events are not sealed."""
        assert case_of("rescue-notice", {"rescue_id": "R-1"}) == "R-1"
        assert case_of("case-follow-up", {"rescue_id": "R-1"}) == "R-1"
        hit = {"counterpart_kind": "RESCUE_NOTICE", "counterpart_id": "R-1",
               "explanation": ["name: exact (张三 / 张三) +3.0"]}
        assert case_of("match-found", hit) == "R-1"
        assert "explanation" not in clear_view("match-found", hit)
        assert case_of("match-found", {**hit, "counterpart_kind": "MIGRANT_RECORD"}) is None
        assert case_of("tip-report", {"rescue_id": "R-1"}) is None

    def test_explanation_keeps_levels_not_values(self) -> None:
        """A rescued person's hit explanation keeps each field's level and weight only."""
        lines = ["id_number: exact (510104201403051226 / 510104201403051226) +12.8",
                 "child_given_name: exact (名甲 / 名甲 (mingjia / mingjia)) +3.8",
                 "a note naming 张三", "score 33.9 (notify >= 20, review >= 10) -> NOTIFY"]
        out = redacted_explanation(lines)
        assert out[:3] == ["id_number: exact +12.8", "child_given_name: exact +3.8",
                           "score 33.9 (notify >= 20, review >= 10) -> NOTIFY"]
        assert "张三" not in repr(out) and "5101" not in repr(out)


class TestQuarantineCase:
    def test_quarantined_copy_goes_with_its_case_or_a_key_of_its_own(self) -> None:
        """A rejected rescue notice is sealed under its case; unreadable bytes under a key of
        their own; an event of another type is kept as it is."""
        key = generate_keypair()
        body = sample_payloads()["rescue-notice"]
        env = seal(catalog(), "rescue-notice", body, publisher_id="530000-civil-affairs",
                   key=key, sequence=1, occurred_at=T0, event_id=uuid.uuid4())
        assert quarantine_case(catalog(), env) == body["rescue_id"]
        assert str(quarantine_case(catalog(), None)).startswith(QUARANTINE_CASE_PREFIX)
        tip = seal(catalog(), "tip-report", sample_payloads()["tip-report"],
                   publisher_id="530000-womens-federation", key=key, sequence=2,
                   occurred_at=T0)
        assert quarantine_case(catalog(), tip) is None
