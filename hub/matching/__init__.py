"""Matching alerts against migrant records and rescue notices: pure logic, no Kafka.

Public surface: facts, adapters from event payloads, the candidate index, the matcher and its
weights, kinship, and the incremental evaluation.
"""

from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import CandidateIndex, blocking_keys
from hub.matching.facts import (
    BirthInfo,
    DatePrecision,
    PersonFacts,
    PersonRef,
    Sex,
    SourceKind,
    StrProfile,
)
from hub.matching.features import Features, prepare
from hub.matching.kinship import AlleleTable, Conclusion, KinshipResult, identity, parentage
from hub.matching.matcher import Decision, Hit, Matcher, ScoredPair
from hub.matching.model import FellegiSunterModel, Thresholds

__all__ = [
    "AlleleTable",
    "BirthInfo",
    "CandidateIndex",
    "Conclusion",
    "DatePrecision",
    "Decision",
    "Features",
    "FellegiSunterModel",
    "Hit",
    "KinshipResult",
    "Matcher",
    "PersonFacts",
    "PersonRef",
    "ScoredPair",
    "Sex",
    "SourceKind",
    "StrProfile",
    "Thresholds",
    "blocking_keys",
    "facts_from_alert",
    "facts_from_migrant_record",
    "facts_from_rescue",
    "identity",
    "parentage",
    "prepare",
]
