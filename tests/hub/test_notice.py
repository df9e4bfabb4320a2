"""Signed notices: any change of a byte breaks them, and only the addressee accepts one."""

from __future__ import annotations

import pytest

from hub.envelope import SIGNING_DOMAIN
from hub.keys import generate_keypair
from hub.notice import DOMAIN, NoticeRefused, open_notice, seal_notice
from hub.reasons import NoticeRefusal

BODY = {"notification_id": "n-1", "recipient": "320000-police", "match_id": "m-1",
        "explanation": ["姓名读音相同"]}


class TestNotice:
    def test_round_trip(self) -> None:
        """A sealed notice opens to the same body, with the time it was issued."""
        key = generate_keypair()
        notice = open_notice(seal_notice(key, BODY), key.verify_key, "320000-police")
        assert notice.body["explanation"] == ["姓名读音相同"] and notice.body["issued_at"]
        assert notice.notification_id == "n-1" and notice.recipient == "320000-police"

    def test_every_byte_flip_is_refused(self) -> None:
        """Flipping any single bit of the wire bytes makes the notice refused."""
        key = generate_keypair()
        wire = seal_notice(key, BODY)
        for position in range(len(wire)):
            broken = bytearray(wire)
            broken[position] ^= 0x04
            with pytest.raises(NoticeRefused):
                open_notice(bytes(broken), key.verify_key, "320000-police")

    def test_reasons(self) -> None:
        """Each way of being wrong has its own reason."""
        key, other = generate_keypair(), generate_keypair()
        wire = seal_notice(key, BODY)
        cases = [
            (b'{"kind": "MATCH_HIT"}', key, "320000-police", NoticeRefusal.UNSIGNED),
            (wire[:30], key, "320000-police", NoticeRefusal.MALFORMED),
            (wire, other, "320000-police", NoticeRefusal.UNKNOWN_KEY),
            (wire, key, "510000-police", NoticeRefusal.WRONG_RECIPIENT),
        ]
        for data, trusted, recipient, reason in cases:
            with pytest.raises(NoticeRefused) as caught:
                open_notice(data, trusted.verify_key, recipient)
            assert caught.value.reason is reason

    def test_domain_is_not_the_envelopes(self) -> None:
        """A notice signature can never be taken for an event signature, or back."""
        assert DOMAIN != SIGNING_DOMAIN

    def test_a_notice_must_name_its_recipient(self) -> None:
        """Sealing refuses a body without recipient or id."""
        with pytest.raises(Exception, match="recipient"):
            seal_notice(generate_keypair(), {"notification_id": "n"})
