"""Parent-child kinship from STR profiles: paternity index per locus, combined (CPI), with mutation.

The likelihood ratio compares "this child was born to these parents" with "to random people of the
population", using allele frequencies from a replaceable CSV table (see data/README.md).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from hub.errors import MatchingModelError
from hub.matching.facts import StrProfile

SUPPORT_CPI = 10_000.0
INCONCLUSIVE_CPI = 2_000.0
EXCLUDING_LOCI = 3
# A kinship this strong, over this many loci, makes a hit on its own.
STRONG_LOCI = 15
# Each further repeat step of a mutation is taken as ten times less likely than the one before.
_STEP_DECAY = 0.1


class KinshipKind(StrEnum):
    TRIO = "TRIO"
    DUO = "DUO"
    IDENTITY = "IDENTITY"


class Conclusion(StrEnum):
    """Forensic conclusion rules: CPI >= 10,000 supports; 2,000-10,000 needs more markers."""

    SUPPORTED = "SUPPORTED"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    EXCLUDED = "EXCLUDED"


@dataclass(frozen=True)
class KinshipResult:
    """The combined likelihood ratio and what a forensic examiner would conclude from it."""

    kind: KinshipKind
    cpi: float
    loci_compared: int
    inconsistent_loci: tuple[str, ...]
    conclusion: Conclusion

    @property
    def log2_lr(self) -> float:
        return math.log2(self.cpi) if self.cpi > 0 else -math.inf

    @property
    def strong(self) -> bool:
        """Strong enough to make a hit alone."""
        return self.conclusion is Conclusion.SUPPORTED and self.loci_compared >= STRONG_LOCI

    def describe(self) -> str:
        """One line for a hit's explanation."""
        bad = ", ".join(self.inconsistent_loci) or "none"
        return (
            f"DNA {self.kind.value.lower()}: CPI {self.cpi:.3g} over {self.loci_compared} loci, "
            f"inconsistent loci: {bad} -> {self.conclusion.value}"
        )


def canonical_locus(name: str) -> str:
    """Locus names compare without case, spaces, dashes or underscores ("Penta D" = "PENTA_D")."""
    return "".join(ch for ch in name.upper() if ch.isalnum())


def canonical_allele(allele: str) -> str:
    """ "15.0" and "15" are the same allele; microvariants such as "9.3" keep their decimal."""
    text = allele.strip()
    try:
        value = float(text)
    except ValueError:
        return text.upper()
    return f"{value:g}"


@dataclass(frozen=True)
class AlleleTable:
    """Allele frequencies and mutation rates per locus."""

    frequencies: Mapping[str, Mapping[str, float]]
    mutation_rates: Mapping[str, float]
    names: Mapping[str, str]
    min_frequency: float = 0.0025

    def freq(self, locus: str, allele: str) -> float:
        return max(self.frequencies[locus].get(allele, 0.0), self.min_frequency)

    @property
    def loci(self) -> tuple[str, ...]:
        return tuple(self.frequencies)

    @classmethod
    def load(cls, directory: Path | None = None) -> AlleleTable:
        """Read str_allele_frequencies.csv and str_loci.csv (default: the shipped table)."""
        base = directory or Path(str(resources.files("hub.matching") / "data"))
        freqs: dict[str, dict[str, float]] = {}
        names: dict[str, str] = {}
        rates: dict[str, float] = {}
        for row_no, row in _rows(base / "str_loci.csv", ("locus", "mutation_rate")):
            key = canonical_locus(row["locus"])
            names[key] = row["locus"].strip()
            rates[key] = _number(row, "mutation_rate", row_no, base / "str_loci.csv")
        path = base / "str_allele_frequencies.csv"
        for row_no, row in _rows(path, ("locus", "allele", "frequency")):
            key = canonical_locus(row["locus"])
            if key not in rates:
                raise MatchingModelError(f"{path} row {row_no}: locus {row['locus']!r} unknown")
            value = _number(row, "frequency", row_no, path)
            freqs.setdefault(key, {})[canonical_allele(row["allele"])] = value
        for key, table in freqs.items():
            total = sum(table.values())
            if not 0.97 <= total <= 1.03:
                raise MatchingModelError(f"{path}: frequencies of {names[key]} sum to {total:.3f}")
            freqs[key] = {a: f / total for a, f in table.items()}
        return cls(frequencies=freqs, mutation_rates=rates, names=names)


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise MatchingModelError(f"{path}: missing columns {missing}")
            return [(i, row) for i, row in enumerate(reader, start=2)]
    except OSError as err:
        raise MatchingModelError(f"cannot read {path}: {err}") from err


def _number(row: dict[str, str], column: str, row_no: int, path: Path) -> float:
    try:
        value = float(row[column])
    except (TypeError, ValueError) as err:
        raise MatchingModelError(f"{path} row {row_no} field {column}: not a number") from err
    if not 0.0 <= value <= 1.0:
        raise MatchingModelError(f"{path} row {row_no} field {column}: {value} outside [0, 1]")
    return value


def normalise_profile(profile: Mapping[str, tuple[str, str]] | None) -> StrProfile:
    """Canonical locus and allele spelling, so profiles from different labs compare."""
    if not profile:
        return {}
    return {
        canonical_locus(locus): (canonical_allele(pair[0]), canonical_allele(pair[1]))
        for locus, pair in profile.items()
    }


def _mutation(source: str, target: str, rate: float) -> float:
    """Probability that a parent's allele `source` is passed on as `target` (stepwise model)."""
    try:
        steps = abs(float(source) - float(target))
    except ValueError:
        return rate * 1e-3
    whole = round(steps)
    if whole >= 1 and abs(steps - whole) < 1e-6:
        return rate / 2 * _STEP_DECAY ** (whole - 1)
    return rate * 1e-3  # a change of partial repeat (e.g. 9 -> 9.3) is far rarer


def _transmit(parent: tuple[str, str], allele: str, rate: float) -> float:
    """Probability that a parent with this genotype passes on `allele` (rate=0: no mutation)."""
    return sum(0.5 * ((1 - rate) if g == allele else _mutation(g, allele, rate)) for g in parent)


def _random_genotype(table: AlleleTable, locus: str, child: tuple[str, str]) -> float:
    p1, p2 = table.freq(locus, child[0]), table.freq(locus, child[1])
    return p1 * p1 if child[0] == child[1] else 2 * p1 * p2


def _numerator(
    table: AlleleTable,
    locus: str,
    child: tuple[str, str],
    parents: list[tuple[str, str]],
    rate: float,
) -> float:
    c1, c2 = child
    if len(parents) == 2:
        fa, mo = parents
        total = _transmit(fa, c1, rate) * _transmit(mo, c2, rate)
        if c1 != c2:
            total += _transmit(fa, c2, rate) * _transmit(mo, c1, rate)
        return total
    (one,) = parents
    total = _transmit(one, c1, rate) * table.freq(locus, c2)
    if c1 != c2:
        total += _transmit(one, c2, rate) * table.freq(locus, c1)
    return total


def _consistent(child: tuple[str, str], parents: list[tuple[str, str]]) -> bool:
    """Mendelian consistency without mutation: one allele from each parent tested."""
    c1, c2 = child
    if len(parents) == 2:
        fa, mo = parents
        return (c1 in fa and c2 in mo) or (c2 in fa and c1 in mo)
    return c1 in parents[0] or c2 in parents[0]


def _conclude(cpi: float, inconsistent: int) -> Conclusion:
    if inconsistent >= EXCLUDING_LOCI:
        return Conclusion.EXCLUDED
    if cpi >= SUPPORT_CPI:
        return Conclusion.SUPPORTED
    if cpi >= INCONCLUSIVE_CPI:
        return Conclusion.INCONCLUSIVE
    return Conclusion.NOT_SUPPORTED


def parentage(
    table: AlleleTable,
    child: StrProfile,
    father: StrProfile | None = None,
    mother: StrProfile | None = None,
) -> KinshipResult | None:
    """Trio (both parents) or duo (one) likelihood ratio; None when no locus can be compared."""
    parent_profiles = [p for p in (father, mother) if p]
    if not child or not parent_profiles:
        return None
    loci = [
        locus
        for locus in child
        if locus in table.frequencies and all(locus in p for p in parent_profiles)
    ]
    inconsistent = [
        table.names[locus]
        for locus in loci
        if not _consistent(child[locus], [p[locus] for p in parent_profiles])
    ]
    kind = KinshipKind.TRIO if len(parent_profiles) == 2 else KinshipKind.DUO
    if not loci:
        return None
    if len(inconsistent) >= EXCLUDING_LOCI:
        # Excluded whatever the index: skip the arithmetic (most candidate pairs end here).
        return KinshipResult(kind, 0.0, len(loci), tuple(inconsistent), Conclusion.EXCLUDED)
    log_cpi = 0.0
    for locus in loci:
        genotype = child[locus]
        parents = [p[locus] for p in parent_profiles]
        rate = table.mutation_rates[locus]
        pi = _numerator(table, locus, genotype, parents, rate) / _random_genotype(
            table, locus, genotype
        )
        log_cpi += math.log10(pi)
    cpi = 10.0**log_cpi
    return KinshipResult(
        kind, cpi, len(loci), tuple(inconsistent), _conclude(cpi, len(inconsistent))
    )


def identity(table: AlleleTable, a: StrProfile, b: StrProfile) -> KinshipResult | None:
    """Same-person likelihood ratio (inverse random-match probability) for two own profiles."""
    log_lr = 0.0
    compared = 0
    different: list[str] = []
    for locus, genotype in a.items():
        if locus not in table.frequencies or locus not in b:
            continue
        compared += 1
        if sorted(genotype) != sorted(b[locus]):
            different.append(table.names[locus])
            # Allow one typing error or mutation between two samples, at the mutation rate.
            log_lr += math.log10(table.mutation_rates[locus])
        else:
            log_lr -= math.log10(_random_genotype(table, locus, genotype))
    if compared == 0:
        return None
    lr = 10.0**log_lr
    return KinshipResult(
        KinshipKind.IDENTITY, lr, compared, tuple(different), _conclude(lr, len(different))
    )
