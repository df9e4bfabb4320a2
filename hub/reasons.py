"""Every machine-readable reason the hub gives for refusing or flagging something.

One StrEnum per kind of reason, used by every layer (verification, the stores, the stages, the
console and the connectors). A member's value is what is stored and sent: plain readable text,
so a row or a header reads the same to a person as to a program.
"""

from __future__ import annotations

import enum

__all__ = ["AuditOutcome", "NoticeRefusal", "RejectReason", "RequestRefusal", "SequenceIssue"]


class RejectReason(enum.StrEnum):
    """Why an event was rejected; stored with the quarantined bytes (hub.verify)."""

    MALFORMED = "MALFORMED"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"
    INCOMPATIBLE_SCHEMA = "INCOMPATIBLE_SCHEMA"
    UNKNOWN_PUBLISHER = "UNKNOWN_PUBLISHER"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    KEY_NOT_YET_VALID = "KEY_NOT_YET_VALID"
    KEY_REVOKED = "KEY_REVOKED"
    NOT_PERMITTED = "NOT_PERMITTED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    DUPLICATE = "DUPLICATE"
    # Not from verify() but from the verify stage, after it: a change to an alert or a match
    # that is not the publisher's to make, or that names one the hub has not received
    # (hub.authority); and a verified message the store refused.
    NOT_ENTITLED = "NOT_ENTITLED"
    UNKNOWN_SUBJECT = "UNKNOWN_SUBJECT"
    UNSTORABLE = "UNSTORABLE"


class SequenceIssue(enum.StrEnum):
    """A break in a publisher's sequence numbers (a warning, the event is still accepted).

    Lower case: the spelling the sequence_anomalies table has always stored."""

    GAP = "gap"  # numbers were skipped: events may be missing
    REPLAY = "replay"  # a number at or below one already seen, with a new event id


class NoticeRefusal(enum.StrEnum):
    """Why a recipient refused a message on its notification topic (hub.notice)."""

    UNSIGNED = "UNSIGNED"
    MALFORMED = "MALFORMED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_RECIPIENT = "WRONG_RECIPIENT"
    REPLAYED = "REPLAYED"


class RequestRefusal(enum.StrEnum):
    """Why the hub refused a verified request for personal data; told in an EVENT_REFUSED
    notice (the verify stage's own refusals carry their RejectReason instead)."""

    DETAILS_REFUSED = "DETAILS_REFUSED"  # the details behind a hit (processors.disclose_stage)
    CASE_FILE_REFUSED = "CASE_FILE_REFUSED"  # a rescued person's case file (hub.case_file)


class AuditOutcome(enum.StrEnum):
    """What became of a request for personal data (disclosure and case-file audits)."""

    GRANTED = "GRANTED"
    REFUSED = "REFUSED"
