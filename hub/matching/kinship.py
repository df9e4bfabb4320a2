"""Parent-child kinship from STR profiles: paternity index per locus, combined (CPI), with mutation.

The likelihood ratio compares "this child was born to these parents" with "to random people of the
population", using allele frequencies from a replaceable CSV table (see data/README.md).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from hub.errors import MatchingModelError
from hub.matching.facts import DnaOrigin, StrProfile

SUPPORT_CPI = 10_000.0
INCONCLUSIVE_CPI = 2_000.0
EXCLUDING_LOCI = 3
# A kinship this strong, over this many loci, makes a hit on its own.
STRONG_LOCI = 15
# Each further repeat step of a mutation is taken as ten times less likely than the one before.
_STEP_DECAY = 0.1


class KinshipKind(StrEnum):
    """Which relatives a profile was compared with: both parents, one parent, or the person."""
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
    table: str = "shipped"
    # How the table covers each profile compared (child or first sample first).
    coverage: tuple[Coverage, ...] = ()

    @property
    def log2_lr(self) -> float:
        return math.log2(self.cpi) if self.cpi > 0 else -math.inf

    @property
    def table_fits(self) -> bool:
        """The table covers every profile compared well enough to trust the index."""
        return all(c.fits for c in self.coverage)

    @property
    def strong(self) -> bool:
        """Strong enough to make a hit alone (before the bar for profiles searched).

        A duo with any inconsistent locus never is (an unrelated person explained by a
        "mutation" is the commonest false duo), and neither is an index from a table that does
        not fit the profiles.
        """
        if self.conclusion is not Conclusion.SUPPORTED or self.loci_compared < STRONG_LOCI:
            return False
        if self.kind is KinshipKind.DUO and self.inconsistent_loci:
            return False
        return self.table_fits

    def describe(self) -> str:
        """One line for a hit's explanation."""
        bad = ", ".join(self.inconsistent_loci) or "none"
        kind = {"TRIO": "trio (both parents)", "DUO": "duo (one parent)"}.get(
            self.kind.value, "identity"
        )
        return (
            f"DNA {kind}: CPI {self.cpi:.3g} over {self.loci_compared} loci, "
            f"inconsistent loci: {bad} -> {self.conclusion.value} (table {self.table})"
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


# NRC II (1996): an allele a table lacks gets at least 5/2N, N the table's sample size.
_NRC_MIN_NUMERATOR = 5.0
DEFAULT_THETA = 0.01
# A rate for loci a table has frequencies for but no mutation rate (the order of STR loci).
_DEFAULT_MUTATION_RATE = 0.002
# Frequencies of a locus must sum to 1 within this (rounding in published tables).
_SUM_TOLERANCE = 0.02
# A well-formed allele: repeats with an optional partial repeat ("9", "9.3"), or "<n"/">n" bins.
_ALLELE_RE = re.compile(r"^[<>]?\d{1,3}(\.\d)?$")
# A table covers a profile well when it has most of its loci and nearly all of its alleles.
MIN_LOCUS_COVERAGE = 0.8
MAX_UNSEEN_ALLELE_SHARE = 0.05
TABLE_FILE = "str_allele_frequencies.csv"
LOCI_FILE = "str_loci.csv"
META_FILE = "table.json"
_SHIPPED = Path(str(resources.files("hub.matching") / "data"))


@dataclass(frozen=True)
class Coverage:
    """How well a table covers one profile: loci it lacks, alleles it has never seen."""

    table: str
    loci_typed: int
    missing_loci: tuple[str, ...]
    unseen_alleles: tuple[str, ...]
    kit: str | None = None

    @property
    def fits(self) -> bool:
        if self.loci_typed == 0:
            return False
        covered = (self.loci_typed - len(self.missing_loci)) / self.loci_typed
        alleles = 2 * (self.loci_typed - len(self.missing_loci))
        # One unseen allele happens with a good table (rare variants); more means the wrong one.
        allowed = max(1.0, MAX_UNSEEN_ALLELE_SHARE * alleles)
        return covered >= MIN_LOCUS_COVERAGE and len(self.unseen_alleles) <= allowed

    def describe(self) -> str:
        kit = self.kit or "kit unknown"
        parts = [f"table {self.table} for {kit}: {self.loci_typed - len(self.missing_loci)}"
                 f"/{self.loci_typed} loci covered"]
        if self.missing_loci:
            parts.append("not in table: " + ", ".join(self.missing_loci))
        if self.unseen_alleles:
            parts.append("alleles not in table: " + ", ".join(self.unseen_alleles))
        parts.append("fits" if self.fits else "DOES NOT FIT")
        return "; ".join(parts)


@dataclass(frozen=True)
class AlleleTable:
    """Allele frequencies of one population for one kit, with its sample sizes and mutation rates.

    `freq` floors every frequency at the NRC II minimum 5/2N; `draw` is the Balding-Nichols
    sampling formula with θ (NRC II recommendation 4.10) on which all likelihood ratios rest.
    """

    frequencies: Mapping[str, Mapping[str, float]]
    mutation_rates: Mapping[str, float]
    names: Mapping[str, str]
    sample_sizes: Mapping[str, int] = field(default_factory=dict)
    theta: float = DEFAULT_THETA
    name: str = "shipped"
    population: str = ""
    kits: tuple[str, ...] = ()
    labs: tuple[str, ...] = ()
    default_sample_size: int = 1000

    def min_frequency(self, locus: str) -> float:
        n = self.sample_sizes.get(locus, self.default_sample_size)
        return _NRC_MIN_NUMERATOR / (2 * n)

    def freq(self, locus: str, allele: str) -> float:
        return max(self.frequencies[locus].get(allele, 0.0), self.min_frequency(locus))

    def draw(self, locus: str, allele: str, seen: Sequence[str]) -> float:
        """P(next allele drawn is `allele` | the alleles `seen` in the same subpopulation).

        (x θ + (1 - θ) p) / (1 + (n - 1) θ), x of the n seen alleles being `allele`; with
        nothing seen it is p, and two draws give NRC II's 4.10 genotype formulas.
        """
        theta = self.theta
        x = sum(1 for a in seen if a == allele)
        n = len(seen)
        return (x * theta + (1 - theta) * self.freq(locus, allele)) / (1 + (n - 1) * theta)

    def genotype_probability(
        self, locus: str, genotype: tuple[str, str], seen: Sequence[str] = ()
    ) -> float:
        """A random person's chance of this genotype, given alleles already seen."""
        a, b = genotype
        first = self.draw(locus, a, seen)
        second = self.draw(locus, b, [*seen, a])
        return first * second * (1 if a == b else 2)

    def mutation_rate(self, locus: str) -> float:
        return self.mutation_rates.get(locus, _DEFAULT_MUTATION_RATE)

    def display(self, locus: str) -> str:
        return self.names.get(locus, locus)

    @property
    def loci(self) -> tuple[str, ...]:
        return tuple(self.frequencies)

    def coverage(self, profile: Mapping[str, tuple[str, str]], kit: str | None = None) -> Coverage:
        missing = tuple(sorted(locus for locus in profile if locus not in self.frequencies))
        unseen = tuple(
            f"{self.display(locus)} {allele}"
            for locus, pair in sorted(profile.items())
            if locus in self.frequencies
            for allele in sorted(set(pair))
            if allele not in self.frequencies[locus]
        )
        return Coverage(self.name, len(profile), missing, unseen, kit)

    def with_theta(self, theta: float) -> AlleleTable:
        return replace(self, theta=check_theta(theta))

    @classmethod
    def load(cls, directory: Path | None = None, theta: float = DEFAULT_THETA) -> AlleleTable:
        """Read a table directory (default: the shipped table); see data/README.md.

        Raises MatchingModelError naming the file, row, locus and allele of the first problem.
        """
        base = directory or _SHIPPED
        meta = _meta(base / META_FILE)
        names: dict[str, str] = {}
        rates: dict[str, float] = {}
        loci_path = base / LOCI_FILE if (base / LOCI_FILE).exists() else _SHIPPED / LOCI_FILE
        for row_no, row in _rows(loci_path, ("locus", "mutation_rate")):
            key = canonical_locus(row["locus"])
            names[key] = row["locus"].strip()
            rates[key] = _number(row, "mutation_rate", row_no, loci_path)
        path = base / TABLE_FILE
        freqs: dict[str, dict[str, float]] = {}
        for row_no, row in _rows(path, ("locus", "allele", "frequency")):
            raw_locus = (row["locus"] or "").strip()
            key = canonical_locus(raw_locus)
            if not key:
                raise MatchingModelError(f"{path} row {row_no}: locus is empty")
            names.setdefault(key, raw_locus)
            raw_allele = (row["allele"] or "").strip()
            if not _ALLELE_RE.match(raw_allele):
                raise MatchingModelError(
                    f"{path} row {row_no}: locus {raw_locus} allele {raw_allele!r} is not an "
                    "allele designation (repeats with an optional partial repeat, e.g. 9 or 9.3)"
                )
            allele = canonical_allele(raw_allele)
            value = _number(row, "frequency", row_no, path)
            if value <= 0.0:
                raise MatchingModelError(
                    f"{path} row {row_no}: locus {raw_locus} allele {raw_allele}: frequency "
                    f"{value} must be above 0 (leave an unseen allele out: it gets 5/2N)"
                )
            if allele in freqs.get(key, {}):
                raise MatchingModelError(
                    f"{path} row {row_no}: locus {raw_locus} allele {raw_allele} listed twice"
                )
            freqs.setdefault(key, {})[allele] = value
        if not freqs:
            raise MatchingModelError(f"{path}: no allele frequencies")
        for key, table in freqs.items():
            total = sum(table.values())
            if abs(total - 1.0) > _SUM_TOLERANCE:
                raise MatchingModelError(
                    f"{path}: frequencies of locus {names[key]} sum to {total:.3f}, not 1 "
                    f"(within {_SUM_TOLERANCE})"
                )
            freqs[key] = {a: f / total for a, f in table.items()}
        sizes = _sample_sizes(base / META_FILE, meta, names, set(freqs))
        return cls(
            frequencies=freqs,
            mutation_rates=rates,
            names=names,
            sample_sizes=sizes,
            theta=check_theta(theta),
            name=str(meta.get("name") or base.name),
            population=str(meta.get("population") or ""),
            kits=tuple(str(k) for k in meta.get("kits") or ()),
            labs=tuple(str(k) for k in meta.get("labs") or ()),
            default_sample_size=int(meta["sample_size"]),
        )


def check_theta(theta: float) -> float:
    """The θ (F_ST) correction if it is in [0, 0.5), else a MatchingModelError naming it."""
    if not 0.0 <= theta < 0.5:
        raise MatchingModelError(f"θ (F_ST) {theta} is outside [0, 0.5); NRC II uses 0.01-0.03")
    return theta


def _meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MatchingModelError(
            f"{path}: missing; a table needs its sample size N (table.json with sample_size)"
        ) from err
    except (OSError, ValueError) as err:
        raise MatchingModelError(f"{path}: cannot read: {err}") from err
    if not isinstance(meta, dict):
        raise MatchingModelError(f"{path}: expected a JSON object")
    n = meta.get("sample_size")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise MatchingModelError(
            f"{path} field sample_size: the table's sample size N (persons typed) must be a "
            f"whole number above 0, got {n!r}"
        )
    for key in ("kits", "labs"):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MatchingModelError(f"{path} field {key}: expected a list of names")
    return meta


def _sample_sizes(
    path: Path, meta: Mapping[str, Any], names: Mapping[str, str], loci: set[str]
) -> dict[str, int]:
    """N per locus: `sample_sizes` in table.json where a locus was typed on fewer persons."""
    raw = meta.get("sample_sizes") or {}
    if not isinstance(raw, dict):
        raise MatchingModelError(f"{path} field sample_sizes: expected locus -> N")
    sizes = {locus: int(meta["sample_size"]) for locus in loci}
    for locus, n in raw.items():
        key = canonical_locus(str(locus))
        if key not in loci:
            raise MatchingModelError(f"{path} field sample_sizes: locus {locus} has no frequencies")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise MatchingModelError(
                f"{path} field sample_sizes: locus {names.get(key, locus)}: N must be a whole "
                f"number above 0, got {n!r}"
            )
        sizes[key] = n
    return sizes


@dataclass(frozen=True)
class TableSet:
    """Every allele table the hub holds, and the rule that picks one for a profile.

    A table naming the profile's lab wins, then one naming its kit (and population, if the
    profile states one), then the default table.
    """

    tables: tuple[AlleleTable, ...]
    default: AlleleTable

    @classmethod
    def load(cls, directory: Path | None = None, theta: float = DEFAULT_THETA) -> TableSet:
        """A table directory, or a directory of table directories (each with its table.json)."""
        if directory is None:
            shipped = AlleleTable.load(None, theta)
            return cls((shipped,), shipped)
        if not directory.is_dir():
            raise MatchingModelError(f"{directory}: not a directory of allele tables")
        if (directory / TABLE_FILE).exists():
            one = AlleleTable.load(directory, theta)
            return cls((one,), one)
        tables = tuple(
            AlleleTable.load(sub, theta)
            for sub in sorted(directory.iterdir())
            if sub.is_dir() and (sub / TABLE_FILE).exists()
        )
        if not tables:
            raise MatchingModelError(
                f"{directory}: no allele table ({TABLE_FILE} with {META_FILE}) in it or below it"
            )
        seen: set[str] = set()
        for table in tables:
            if table.name in seen:
                raise MatchingModelError(f"{directory}: two tables named {table.name!r}")
            seen.add(table.name)
        defaults = [t for t in tables if "*" in t.kits]
        return cls(tables, defaults[0] if defaults else tables[0])

    @classmethod
    def single(cls, table: AlleleTable) -> TableSet:
        return cls((table,), table)

    def choose(self, origin: DnaOrigin | None) -> AlleleTable:
        if origin is None or len(self.tables) == 1:
            return self.default
        lab = (origin.lab or "").strip().lower()
        kit = canonical_locus(origin.kit or "")
        population = (origin.population or "").strip().lower()
        if lab:
            for table in self.tables:
                if lab in (x.strip().lower() for x in table.labs):
                    return table
        by_kit = [t for t in self.tables if kit and kit in (canonical_locus(k) for k in t.kits)]
        if population:
            for table in by_kit:
                if table.population.strip().lower() == population:
                    return table
        return by_kit[0] if by_kit else self.default


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
    where = f"{path} row {row_no}"
    if "locus" in row and column == "frequency":
        locus, allele = (row.get("locus") or "").strip(), (row.get("allele") or "").strip()
        where += f": locus {locus} allele {allele}"
    try:
        value = float(row[column])
    except (TypeError, ValueError) as err:
        raise MatchingModelError(
            f"{where} field {column}: {row[column]!r} is not a number"
        ) from err
    if not 0.0 <= value <= 1.0:
        raise MatchingModelError(f"{where} field {column}: {value} outside [0, 1]")
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


def paternity_index(
    table: AlleleTable, locus: str, child: tuple[str, str], parents: list[tuple[str, str]]
) -> float:
    """Likelihood ratio at one locus: born to the tested parent(s) vs to random people.

    Both hypotheses are computed with the θ sampling formula given the tested parents' alleles
    (they come from the same population as any untested parent): in a duo, the allele not
    from the tested parent is drawn given the parent's two alleles; under the alternative, the
    child's two alleles are drawn given all the parents' alleles. θ = 0 gives the textbook
    indices (1/2p for child a/a, parent a/b).
    """
    rate = table.mutation_rate(locus)
    c1, c2 = child
    seen = [a for p in parents for a in p]
    if len(parents) == 2:
        fa, mo = parents
        num = _transmit(fa, c1, rate) * _transmit(mo, c2, rate)
        if c1 != c2:
            num += _transmit(fa, c2, rate) * _transmit(mo, c1, rate)
    else:
        (one,) = parents
        num = _transmit(one, c1, rate) * table.draw(locus, c2, seen)
        if c1 != c2:
            num += _transmit(one, c2, rate) * table.draw(locus, c1, seen)
    return num / table.genotype_probability(locus, child, seen)


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
    kits: tuple[str | None, str | None] = (None, None),
) -> KinshipResult | None:
    """Trio (both parents) or duo (one) likelihood ratio; None when no locus can be compared.

    Loci of both sides that the table lacks are not compared, and they count against the
    table's coverage (`KinshipResult.coverage`): `kits` names the child's and parents' kits.
    """
    parent_profiles = [p for p in (father, mother) if p]
    if not child or not parent_profiles:
        return None
    shared = [locus for locus in child if all(locus in p for p in parent_profiles)]
    loci = [locus for locus in shared if locus in table.frequencies]
    kind = KinshipKind.TRIO if len(parent_profiles) == 2 else KinshipKind.DUO
    if not loci:
        return None
    coverage = (
        table.coverage({k: child[k] for k in shared}, kits[0]),
        *(table.coverage({k: p[k] for k in shared}, kits[1]) for p in parent_profiles),
    )
    inconsistent = [
        table.display(locus)
        for locus in loci
        if not _consistent(child[locus], [p[locus] for p in parent_profiles])
    ]
    if len(inconsistent) >= EXCLUDING_LOCI:
        # Excluded whatever the index: skip the arithmetic (most candidate pairs end here).
        return KinshipResult(
            kind, 0.0, len(loci), tuple(inconsistent), Conclusion.EXCLUDED, table.name, coverage
        )
    log_cpi = 0.0
    for locus in loci:
        pi = paternity_index(table, locus, child[locus], [p[locus] for p in parent_profiles])
        log_cpi += math.log10(pi)
    cpi = 10.0**log_cpi
    return KinshipResult(
        kind,
        cpi,
        len(loci),
        tuple(inconsistent),
        _conclude(cpi, len(inconsistent)),
        table.name,
        coverage,
    )


def match_probability(table: AlleleTable, locus: str, genotype: tuple[str, str]) -> float:
    """NRC II 4.10: chance that a relative-free person of the same subpopulation shares the
    genotype, given it was seen once (Balding-Nichols with θ)."""
    return table.genotype_probability(locus, genotype, genotype)


def identity(
    table: AlleleTable,
    a: StrProfile,
    b: StrProfile,
    kits: tuple[str | None, str | None] = (None, None),
) -> KinshipResult | None:
    """Same-person likelihood ratio (inverse conditional match probability) for two profiles."""
    log_lr = 0.0
    compared = 0
    different: list[str] = []
    shared = [locus for locus in a if locus in b]
    for locus in shared:
        if locus not in table.frequencies:
            continue
        genotype = a[locus]
        compared += 1
        if sorted(genotype) != sorted(b[locus]):
            different.append(table.display(locus))
            # Allow one typing error or mutation between two samples, at the mutation rate.
            log_lr += math.log10(table.mutation_rate(locus))
        else:
            log_lr -= math.log10(match_probability(table, locus, genotype))
    if compared == 0:
        return None
    lr = 10.0**log_lr
    coverage = (
        table.coverage({k: a[k] for k in shared}, kits[0]),
        table.coverage({k: b[k] for k in shared}, kits[1]),
    )
    return KinshipResult(
        KinshipKind.IDENTITY,
        lr,
        compared,
        tuple(different),
        _conclude(lr, len(different)),
        table.name,
        coverage,
    )
