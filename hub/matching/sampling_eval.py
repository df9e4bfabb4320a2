"""DNA-sampling requests measured on labelled data: how many are sent per true child found.

The records are replayed in registration order through the rule of hub.sampling (every alert
open, as in the incremental evaluation), each requested child gets the profile a lab would type
(`sample`: the truth for a true child, a stranger's draw otherwise), and that child is searched
as the match stage searches a returned sample: its latest record entry with the profile, against
every alert and its parents' DNA. Pure; `hubctl match-eval` prints the report.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from hub.errors import MatchingInputError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record
from hub.matching.blocking import CandidateIndex
from hub.matching.evaluation import Pair, Scores, pair_of, score_pairs
from hub.matching.features import prepare
from hub.matching.labelled import (
    Label,
    LabelledData,
    Payload,
    in_registration_order,
    latest_records,
)
from hub.matching.matcher import Decision, Matcher
from hub.sampling import (
    ListedChild,
    first_listed,
    listed_child,
    listing_day,
    open_alert,
    sampling_request,
)

SampleSource = Callable[[str, int], Payload | None]


@dataclass
class SamplingReport:
    """Requests sent, and the true children (accompanying-child pairs) they found."""

    children: int = 0
    requests: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    true_children: int = 0
    true_requested: int = 0
    true_with_parents_dna: int = 0
    true_found: int = 0
    false_notified: int = 0
    found_on_record: int = 0
    found_either: int = 0
    late: int = 0
    late_requested: int = 0
    late_found: int = 0
    # Every NOTIFY pair a sample made, true or not.
    hits: set[Pair] = field(default_factory=set)

    def with_record_hits(self, notified: Iterable[Pair], labels: Iterable[Label]) -> Scores:
        """NOTIFY precision, recall and F1 over the record hits and the samples' together."""
        return score_pairs(set(notified) | self.hits, labels)

    def lines(self) -> list[str]:
        per_found = f"{self.requests / self.true_found:.1f}" if self.true_found else "n/a"
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.reasons.items()))
        either = self.found_either / self.true_children if self.true_children else 0.0
        return [
            f"DNA-sampling requests: {self.requests} for {self.children} children listed "
            f"({reasons})",
            f"  true children in records {self.true_children} ({self.true_with_parents_dna} of "
            f"them with parents' DNA on file): requested {self.true_requested}, "
            f"found by their sample {self.true_found}; requests per true child found "
            f"{per_found}; false NOTIFY from samples (not already on the record) "
            f"{self.false_notified}",
            f"  registered late and renamed {self.late}: requested {self.late_requested}, "
            f"found by their sample {self.late_found}",
            f"  accompanying children found at NOTIFY: {self.found_on_record} on the record, "
            f"{self.found_either} with the samples (recall {either:.3f})",
        ]


def _requested(records: Iterable[Payload], alerts: list[Payload]) -> tuple[
    dict[str, list[ListedChild]], int, Counter[str]
]:
    """Replay the rule: the children asked for per record id, children seen, reasons."""
    opened = [a for a in (open_alert(str(p["alert_id"]), p) for p in alerts) if a is not None]
    households: dict[str, tuple[date, list[ListedChild]]] = {}
    asked: dict[str, list[ListedChild]] = {}
    asked_ids: set[str] = set()
    reasons: Counter[str] = Counter()
    for record in in_registration_order(records):
        record_id, day = str(record.get("record_id")), listing_day(record)
        if day is None:
            continue
        since, known = households.get(record_id, (day, []))
        since = min(since, day)
        households[record_id] = (since, known)
        for index, entry in enumerate(record.get("children") or []):
            seen = listed_child(entry, day)
            if seen is None:
                continue
            child, new = first_listed(known, *seen, day)
            if new:
                known.append(child)
            request = sampling_request(record_id, index, entry, child, since, opened)
            if request is not None and request.request_id not in asked_ids:
                asked_ids.add(request.request_id)
                asked.setdefault(record_id, []).append(child)
                reasons.update(r.value for r in request.reasons)
    return asked, sum(len(k) for _, k in households.values()), reasons


def evaluate_sampling(
    data: LabelledData,
    matcher: Matcher,
    sample: SampleSource,
    notified_on_record: Iterable[Pair],
    late: Iterable[Label] = (),
) -> SamplingReport:
    """Requests per true child found, on `data` (see the module docstring)."""
    asked, children, reasons = _requested(data.records, data.alerts)
    parents = {p.get("alert_id"): p for p in data.parents_dna}
    index = CandidateIndex()
    for alert in data.alerts:
        index.add(prepare(facts_from_alert(alert, parents.get(alert.get("alert_id")))))
    truth = {t for t in data.labels if t[2] is not None}
    late_truth = set(late) & truth
    requested: set[tuple[str, int | None]] = set()
    hits: set[Pair] = set()
    for record in latest_records(data.records):
        record_id, day = str(record.get("record_id")), listing_day(record)
        wanted = asked.get(record_id)
        if not wanted or day is None:
            continue
        for i, entry in enumerate(record.get("children") or []):
            seen = listed_child(entry, day)
            if seen is None or not any(c.same_child(*seen) for c in wanted):
                continue
            profile = sample(record_id, i)
            if profile is None:
                continue
            requested.add((record_id, i))
            sampled = copy.deepcopy(record)
            sampled["children"][i]["str_profile"] = profile
            try:
                person = next(p for p in facts_from_migrant_record(sampled)
                              if p.ref.child_index == i)
            except MatchingInputError:
                continue
            probe = prepare(person)
            for hit in matcher.hits_among(probe, index.candidates(probe), index, False):
                if hit.decision is not Decision.NOTIFY:
                    continue
                hits.add(pair_of(hit))
    notified = set(notified_on_record)
    on_record = notified & truth
    found = hits & truth
    true_requested = {t for t in truth if (t[1], t[2]) in requested}
    return SamplingReport(
        children=children,
        requests=sum(len(v) for v in asked.values()),
        reasons=reasons,
        true_children=len(truth),
        true_requested=len(true_requested),
        true_with_parents_dna=sum(1 for t in truth if t[0] in parents),
        true_found=len(found),
        false_notified=len(hits - truth - notified),
        found_on_record=len(on_record),
        found_either=len(on_record | found),
        late=len(late_truth),
        late_requested=len(true_requested & late_truth),
        late_found=len(found & late_truth),
        hits=hits,
    )
