"""The joint office's report computed from facts: tables per province and case type, shares,
durations, comparison with a baseline period and verdicts per target. Pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hub.reports.facts import (
    ASSISTANCE_KINDS,
    CASE_TYPES,
    FOUND_OUTCOMES,
    GROUPS,
    GUARDIAN_PLACEMENTS,
    AlertFact,
    Facts,
    FollowUpFact,
    Period,
)
from hub.reports.figures import Direction, Verdict, judge_count, judge_share, nearest_rank
from hub.reports.suppression import DEFAULT_THRESHOLD, Share, SuppressedRow, suppress_row
from hub.reports.tables import TOTAL, CountTable, count_table

# (key, label): the counts split by province, case type and woman / child.
COUNT_FIGURES: tuple[tuple[str, str], ...] = (
    ("alerts_issued", "发布预警 alerts issued"),
    ("alerts_found", "结案已找到 alerts closed as found"),
    ("hits_notified", "通报比中 hits notified"),
    ("hits_confirmed", "确认比中 hits confirmed"),
    ("rescued", "登记获救人员 rescued persons registered"),
    ("reunited", "与家人团聚 reunions"),
    ("assisted", "获得救助 rescued with at least one assistance follow-up"),
    ("no_guardian", "未找到监护人的儿童 rescued children with no guardian found"),
    ("placed", "其中已安置 of them placed (welfare institution or foster family)"),
)
# (key, label, numerator, denominator): ratios printed with both counts.
SHARES: tuple[tuple[str, str, str, str], ...] = (
    ("found_share", "找到率 share of alerts closed as found", "alerts_found", "alerts_issued"),
    (
        "confirmed_share",
        "确认率 share of notified hits confirmed",
        "hits_confirmed",
        "hits_notified",
    ),
    ("reunited_share", "团聚率 share of rescued persons reunited", "reunited", "rescued"),
    ("assisted_share", "救助率 share of rescued persons assisted", "assisted", "rescued"),
    ("placed_share", "安置率 share of children without guardian placed", "placed", "no_guardian"),
)
DURATIONS: tuple[tuple[str, str], ...] = (
    ("to_first_hit", "预警到首次比中 time from alert to first hit"),
    ("to_confirmation", "预警到确认 time from alert to confirmation"),
)
HIT_BINS: tuple[tuple[str, float], ...] = (
    ("< 1 d", 1),
    ("1-7 d", 7),
    ("7-30 d", 30),
    ("30-90 d", 90),
    ("90-365 d", 365),
    ("≥ 1 y", float("inf")),
)
Key = tuple[str, str, str]  # (province, case type, group)


@dataclass(frozen=True)
class DurationCell:
    """Median and 90th percentile of durations in days; hidden (None) under the threshold."""

    n: int
    median: float | None
    p90: float | None
    threshold: int

    def text(self) -> str:
        if self.n == 0:
            return "— (0)"
        if self.median is None or self.p90 is None:
            return f"< {self.threshold} cases"
        return f"median {self.median:.1f} d, p90 {self.p90:.1f} d (n = {self.n})"


@dataclass(frozen=True)
class DurationTable:
    """Median days from report to an outcome, per province and case type."""
    title: str
    rows: tuple[str, ...]  # provinces, then TOTAL
    columns: tuple[str, ...]  # case types, then TOTAL
    cells: dict[tuple[str, str], DurationCell]


@dataclass(frozen=True)
class Series:
    """A count per label (month, bin) as printed: a hidden value is None."""

    title: str
    labels: tuple[str, ...]
    row: SuppressedRow


@dataclass(frozen=True)
class ExchangeHealth:
    """How the exchange itself worked: events, rejections, notification delays, late replies."""
    events: CountTable
    rejected: CountTable
    delay_median_s: float | None
    delay_p90_s: float | None
    delays: int
    overdue: CountTable


@dataclass(frozen=True)
class PeriodReport:
    """Every figure of one period, already suppressed at the report's threshold."""

    period: Period
    by_case: dict[str, CountTable]
    by_group: dict[str, CountTable]
    assistance: CountTable
    tips: CountTable
    durations: dict[str, DurationTable]
    monthly: dict[str, Series]
    hit_times: Series
    exchange: ExchangeHealth

    def share(self, key: str, province: str = TOTAL, case: str = TOTAL) -> Share:
        """A named share at a province and case type, from the printed counts."""
        _, _, num, den = next(s for s in SHARES if s[0] == key)
        numerator, denominator = self.by_case[num], self.by_case[den]
        return Share(
            numerator.cell(province, case),
            denominator.cell(province, case),
            numerator.threshold,
        )

    def tip_share(self, province: str = TOTAL) -> Share:
        """The share of tips forwarded to police, from the printed counts."""
        return Share(
            self.tips.cell(province, "forwarded"),
            self.tips.cell(province, TOTAL),
            self.tips.threshold,
        )


@dataclass(frozen=True)
class Comparison:
    """One figure of the period beside the same figure of the baseline period."""
    figure: str
    scope: str
    baseline: str
    now: str
    change: str


@dataclass(frozen=True)
class Target:
    """A goal of the action plan and whether the period's figures meet it."""
    words: str
    verdict: Verdict


@dataclass(frozen=True)
class Report:
    """The whole report: the period, its baseline if asked, comparisons and targets."""
    current: PeriodReport
    baseline: PeriodReport | None
    provinces: tuple[str, ...]
    province_filter: str | None
    threshold: int
    comparisons: tuple[Comparison, ...] = ()
    targets: tuple[Target, ...] = field(default_factory=tuple)


def _latest_before(follow_ups: Iterable[FollowUpFact], period: Period) -> list[FollowUpFact]:
    return sorted((f for f in follow_ups if period.by_end(f.on)), key=lambda f: f.on)


def _rescue_case_types(facts: Facts) -> dict[str, str]:
    """A rescued person's case type: that of the alert a confirmed hit links it to.

    A rescue notice registers a person rescued from trafficking (解救), so without such a hit
    it counts as suspected trafficking.
    """
    alerts = {a.alert_id: a for a in facts.alerts}
    linked: dict[str, str] = {}
    for hit in sorted(facts.hits, key=lambda h: (h.confirmed_at is None, h.confirmed_at)):
        if hit.counterpart_kind == "RESCUE_NOTICE" and hit.confirmed_at and hit.counterpart_id:
            alert = alerts.get(hit.alert_id)
            if alert is not None:
                linked.setdefault(hit.counterpart_id, alert.case_type)
    return {r.rescue_id: linked.get(r.rescue_id, "trafficking") for r in facts.rescues}


def _counts(facts: Facts, period: Period) -> dict[str, Counter[Key]]:
    counts: dict[str, Counter[Key]] = {key: Counter() for key, _ in COUNT_FIGURES}
    cohort: dict[str, AlertFact] = {}
    for alert in facts.alerts:
        if not period.holds(alert.reported_at):
            continue
        cohort[alert.alert_id] = alert
        key = (alert.province, alert.case_type, alert.group)
        counts["alerts_issued"][key] += 1
        if alert.outcome in FOUND_OUTCOMES and period.by_end(alert.closed_at):
            counts["alerts_found"][key] += 1
    for hit in facts.hits:
        issued = cohort.get(hit.alert_id)
        if issued is None or not hit.notified or not period.by_end(hit.found_at):
            continue
        key = (issued.province, issued.case_type, issued.group)
        counts["hits_notified"][key] += 1
        if period.by_end(hit.confirmed_at):
            counts["hits_confirmed"][key] += 1
    case_types = _rescue_case_types(facts)
    for rescue in facts.rescues:
        if not period.holds(rescue.rescued_at):
            continue
        key = (rescue.province, case_types[rescue.rescue_id], rescue.group)
        counts["rescued"][key] += 1
        history = _latest_before(rescue.follow_ups, period)
        if any(f.family_reunion == "REUNITED" for f in history):
            counts["reunited"][key] += 1
        if any(f.assistance for f in history):
            counts["assisted"][key] += 1
        reunion = [f.family_reunion for f in history if f.family_reunion]
        if rescue.group == "child" and reunion and reunion[-1] == "NOT_POSSIBLE":
            counts["no_guardian"][key] += 1
            placements = [rescue.placement_kind] + [f.placement_kind for f in history]
            latest = [p for p in placements if p]
            if latest and latest[-1] in GUARDIAN_PLACEMENTS:
                counts["placed"][key] += 1
    return counts


def _split(counter: Counter[Key], by: int) -> dict[tuple[str, str], int]:
    out: Counter[tuple[str, str]] = Counter()
    for key, n in counter.items():
        out[(key[0], key[by])] += n
    return dict(out)


def _durations(
    facts: Facts, period: Period, provinces: Sequence[str], threshold: int
) -> dict[str, DurationTable]:
    cohort = {a.alert_id: a for a in facts.alerts if period.holds(a.reported_at)}
    first_hit: dict[str, float] = {}
    first_confirmed: dict[str, float] = {}
    for hit in facts.hits:
        alert = cohort.get(hit.alert_id)
        if alert is None or not hit.notified:
            continue
        if period.by_end(hit.found_at):
            days = (hit.found_at - alert.reported_at).total_seconds() / 86400
            first_hit[alert.alert_id] = min(days, first_hit.get(alert.alert_id, days))
        if hit.confirmed_at is not None and period.by_end(hit.confirmed_at):
            days = (hit.confirmed_at - alert.reported_at).total_seconds() / 86400
            first_confirmed[alert.alert_id] = min(days, first_confirmed.get(alert.alert_id, days))
    tables = {}
    rows = (*provinces, TOTAL)
    columns = (*CASE_TYPES, TOTAL)
    for key, label in DURATIONS:
        source = first_hit if key == "to_first_hit" else first_confirmed
        cells = {}
        for row in rows:
            for col in columns:
                values = [
                    days
                    for alert_id, days in source.items()
                    if row in (TOTAL, cohort[alert_id].province)
                    and col in (TOTAL, cohort[alert_id].case_type)
                ]
                hide = 0 < len(values) < threshold
                cells[(row, col)] = DurationCell(
                    len(values),
                    None if hide else nearest_rank(values, 0.5),
                    None if hide else nearest_rank(values, 0.9),
                    threshold,
                )
        tables[key] = DurationTable(label, rows, columns, cells)
    return tables


def _series(title: str, labels: Sequence[str], counts: Counter[str], threshold: int) -> Series:
    return Series(
        title, tuple(labels), suppress_row({label: counts[label] for label in labels}, threshold)
    )


def _hit_times(facts: Facts, period: Period, provinces: Sequence[str], threshold: int) -> Series:
    cohort = {
        a.alert_id: a
        for a in facts.alerts
        if period.holds(a.reported_at) and a.province in provinces
    }
    first: dict[str, float] = {}
    for hit in facts.hits:
        alert = cohort.get(hit.alert_id)
        if alert is None or not hit.notified or not period.by_end(hit.found_at):
            continue
        days = (hit.found_at - alert.reported_at).total_seconds() / 86400
        first[alert.alert_id] = min(days, first.get(alert.alert_id, days))
    bins: Counter[str] = Counter()
    for days in first.values():
        bins[next(label for label, upper in HIT_BINS if days < upper)] += 1
    return _series(
        "预警到首次比中时间分布 time from alert to first hit",
        [label for label, _ in HIT_BINS],
        bins,
        threshold,
    )


def _exchange(
    facts: Facts, period: Period, keep: Callable[[str], bool], threshold: int
) -> ExchangeHealth:
    events: Counter[tuple[str, str]] = Counter()
    for (publisher, day), n in facts.exchange.events.items():
        if period.holds(day) and keep(publisher):
            events[(publisher, "events")] += n
    rejected: Counter[tuple[str, str]] = Counter()
    for (reason, publisher, day), n in facts.exchange.rejected.items():
        if period.holds(day) and keep(publisher):
            rejected[(reason, "events")] += n
    overdue: Counter[tuple[str, str]] = Counter()
    for (unit, day), n in facts.exchange.overdue.items():
        if period.holds(day) and keep(unit):
            overdue[(unit, "hits")] += n
    delays = [s for day, s in facts.exchange.delays if period.holds(day)]
    few = 0 < len(delays) < threshold
    return ExchangeHealth(
        _column("参与方事件数 events stored per participant", "events", events, threshold),
        _column("拒收事件 按原因 rejected events by reason", "events", rejected, threshold),
        None if few else nearest_rank(delays, 0.5),
        None if few else nearest_rank(delays, 0.9),
        len(delays),
        _column("超期未确认的比中 hits unacknowledged past their reply deadline, by unit", "hits",
                overdue, threshold),
    )


def _column(
    title: str, column: str, counts: Counter[tuple[str, str]], threshold: int
) -> CountTable:
    """One column of counts, a row per key that has any, with its total (no row totals)."""
    return count_table(title, sorted({k for k, _ in counts}), (column,), counts,
                       threshold=threshold, row_totals=False)


def period_report(
    facts: Facts,
    period: Period,
    provinces: Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
    keep_participant: Callable[[str], bool] = lambda _: True,
) -> PeriodReport:
    """Every figure of one period for the given provinces (facts of others are ignored)."""
    counts = _counts(facts, period)
    wanted = set(provinces)
    by_case = {}
    by_group = {}
    for key, label in COUNT_FIGURES:
        inside = Counter({k: n for k, n in counts[key].items() if k[0] in wanted})
        by_case[key] = count_table(
            label, provinces, CASE_TYPES, _split(inside, 1), threshold=threshold
        )
        by_group[key] = count_table(
            label, provinces, GROUPS, _split(inside, 2), threshold=threshold
        )
    assistance: Counter[tuple[str, str]] = Counter()
    tips: Counter[tuple[str, str]] = Counter()
    months = period.months()
    # Over three years, months would be mostly small counts, hidden: count by year instead.
    yearly = len(months) > 36
    bucket = "%Y" if yearly else "%Y-%m"
    if yearly:
        months = [str(y) for y in range(period.first.year, period.last.year + 1)]
    per, each = ("每年", "per year") if yearly else ("每月", "per month")
    alerts_monthly: Counter[str] = Counter()
    rescues_monthly: Counter[str] = Counter()
    for rescue in facts.rescues:
        if rescue.province in wanted and period.holds(rescue.rescued_at):
            rescues_monthly[rescue.rescued_at.strftime(bucket)] += 1
            kinds = {k for f in _latest_before(rescue.follow_ups, period) for k in f.assistance}
            for kind in kinds:
                assistance[(rescue.province, kind)] += 1
    for alert in facts.alerts:
        if alert.province in wanted and period.holds(alert.reported_at):
            alerts_monthly[alert.reported_at.strftime(bucket)] += 1
    for tip in facts.tips:
        if tip.province in wanted and period.holds(tip.received_at):
            tips[(tip.province, "forwarded" if tip.forwarded else "not_forwarded")] += 1
    return PeriodReport(
        period=period,
        by_case=by_case,
        by_group=by_group,
        # A person may receive several kinds: the kinds do not add up to a row total.
        assistance=count_table(
            "获得各类救助的人数 rescued persons assisted, by kind",
            provinces,
            ASSISTANCE_KINDS,
            assistance,
            threshold=threshold,
            row_totals=False,
        ),
        tips=count_table(
            "群众线索 tips received", provinces, ("forwarded", "not_forwarded"), tips,
            threshold=threshold,
        ),
        durations=_durations(facts, period, provinces, threshold),
        monthly={
            "alerts_issued": _series(f"{per}发布预警 alerts issued {each}", months,
                                     alerts_monthly, threshold),
            "rescued": _series(f"{per}登记获救人员 rescued persons registered {each}", months,
                               rescues_monthly, threshold),
        },
        hit_times=_hit_times(facts, period, provinces, threshold),
        exchange=_exchange(facts, period, keep_participant, threshold),
    )


def _compare(current: PeriodReport, baseline: PeriodReport) -> list[Comparison]:
    out = []
    for scope in (TOTAL, *CASE_TYPES):
        for key, label in COUNT_FIGURES:
            now = current.by_case[key].cell(TOTAL, scope)
            before = baseline.by_case[key].cell(TOTAL, scope)
            change = "—" if now is None or before is None else f"{now - before:+d}"
            out.append(Comparison(label, scope, baseline.by_case[key].text(TOTAL, scope),
                                  current.by_case[key].text(TOTAL, scope), change))
        for key, label, _, _ in SHARES:
            now_share = current.share(key, TOTAL, scope)
            before_share = baseline.share(key, TOTAL, scope)
            if now_share.value is None or before_share.value is None:
                change = "—"
            else:
                change = f"{100 * (now_share.value - before_share.value):+.1f} points"
            out.append(Comparison(label, scope, before_share.text(), now_share.text(), change))
    return out


def _majority(share: Share) -> Verdict:
    if share.value is None:
        return Verdict(None, f"cannot be judged: {share.text()} (a count is hidden or zero)")
    met = share.value > 0.5
    outcome = "target met" if met else "target not met"
    return Verdict(met, f"{outcome}: {share.text()} received assistance (more than half needed)")


def _targets(current: PeriodReport, baseline: PeriodReport | None) -> list[Target]:
    targets = [Target("多数获救妇女儿童得到救助 most rescued women and children receive assistance",
                      _majority(current.share("assisted_share")))]
    if baseline is None:
        none = Verdict(None, "cannot be judged: no baseline period was given")
        return [
            Target("找到率高于基线 share of alerts closed as found rises over the baseline", none),
            Target("拐卖案件减少 suspected-trafficking cases fall", none),
            *targets,
            Target("团聚率上升 share of rescued persons reunited rises", none),
        ]
    return [
        Target(
            "找到率高于基线 share of alerts closed as found rises over the baseline (all cases)",
            judge_share(current.share("found_share"), baseline.share("found_share"),
                        Direction.RISE),
        ),
        Target(
            "拐卖案件找到率上升 the same for suspected trafficking alone",
            judge_share(current.share("found_share", case="trafficking"),
                        baseline.share("found_share", case="trafficking"), Direction.RISE),
        ),
        Target(
            "拐卖案件减少 suspected-trafficking cases (alerts issued) fall",
            judge_count(current.by_case["alerts_issued"].cell(TOTAL, "trafficking"),
                        baseline.by_case["alerts_issued"].cell(TOTAL, "trafficking"),
                        Direction.FALL),
        ),
        *targets,
        Target(
            "团聚率上升 share of rescued persons reunited rises",
            judge_share(current.share("reunited_share"), baseline.share("reunited_share"),
                        Direction.RISE),
        ),
    ]


def build_report(
    facts: Facts,
    period: Period,
    *,
    baseline: Period | None = None,
    province: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> Report:
    """The whole report: the period, the baseline if given, comparisons and verdicts."""
    if province is not None:
        provinces: tuple[str, ...] = (province,)
    else:
        seen = {a.province for a in facts.alerts} | {r.province for r in facts.rescues}
        seen |= {t.province for t in facts.tips}
        provinces = tuple(sorted(seen))

    def keep(participant: str) -> bool:
        return province is None or participant[:2] == province[:2]

    current = period_report(facts, period, provinces, threshold, keep)
    before = period_report(facts, baseline, provinces, threshold, keep) if baseline else None
    comparisons = tuple(_compare(current, before)) if before else ()
    return Report(
        current=current,
        baseline=before,
        provinces=provinces,
        province_filter=province,
        threshold=threshold,
        comparisons=comparisons,
        targets=tuple(_targets(current, before)),
    )
