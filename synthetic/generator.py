"""Seeded generator of labelled alerts, migrant records and rescue notices (pure, no I/O).

True matches are corrupted the way real ones are: renamed children, homophone characters,
approximate ages, mistyped or swapped identity digits, missing numbers, DNA with mutations.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from hub.identity import check_character
from hub.matching.kinship import AlleleTable
from hub.matching.labelled import Label, LabelledData, Payload
from synthetic import pools
from synthetic.dna import LabWorld, draw_world

_TODAY = dt.date(2026, 11, 1)


@dataclass
class Person:
    """The truth about one person, before any clerk writes it down."""

    name: str
    surname: str
    given: str
    sex: str
    birth: dt.date
    area: str
    id_number: str
    latin: bool = False
    nickname: str | None = None
    marks: str | None = None
    profile: dict[str, list[str]] | None = None


@dataclass
class Dataset(LabelledData):
    """Labelled documents plus the run's population, kit and lab table."""

    # None when a table was imposed on the generator.
    world: LabWorld | None = None
    # What a lab would type if a record's child were sampled: the truth for true children
    # (record id, child index in the record's latest version); other children draw theirs.
    child_profiles: dict[tuple[str, int], Payload] = field(default_factory=dict)
    seed: int = 0
    # True child pairs whose household registered the child late and renamed it.
    late_registered: set[Label] = field(default_factory=set)

    def sample_profile(self, record_id: str, child_index: int) -> Payload | None:
        """The STR profile police would send back for this child (None without a lab world)."""
        known = self.child_profiles.get((record_id, child_index))
        if known is not None or self.world is None:
            return known
        rng = random.Random(f"{self.seed}\x1f{record_id}\x1f{child_index}")
        table = self.world.truth
        loci = []
        for locus in table.loci:
            alleles = list(table.frequencies[locus])
            weights = list(table.frequencies[locus].values())
            loci.append({"locus": table.names[locus],
                         "alleles": sorted(rng.choices(alleles, weights, k=2))})
        return {"kit": self.world.kit, "lab": self.world.lab, "loci": loci,
                "population": self.world.population}


class Generator:
    """Draws people and documents from one seeded random source."""

    def __init__(self, seed: int, table: AlleleTable | None = None) -> None:
        self.rng = random.Random(seed)
        # A second stream for the name cases of issue 17 (given name only, sound-alike
        # surnames), so adding them left every other draw of a seed unchanged.
        self.names_rng = random.Random(seed * 7919 + 17)
        # A third stream for households that register a bought child late (issue 17 item 5).
        self.late_rng = random.Random(seed * 104729 + 29)
        self.seed = seed
        # Without a table given, the run draws its own population, kit and lab (never the
        # shipped frequencies); with one, profiles follow it on its loci (tests).
        self.world: LabWorld | None = None if table is not None else draw_world(seed)
        self.table = table or (self.world.truth if self.world else AlleleTable.load())
        self._serial = 0
        self._surnames = [s for s, _ in pools.SURNAMES] + list(pools.SURNAME_TAIL)
        tail = pools.SURNAME_TAIL_SHARE / len(pools.SURNAME_TAIL)
        self._surname_w = [w for _, w in pools.SURNAMES] + [tail] * len(pools.SURNAME_TAIL)
        self._homophone = {ch: group for group in pools.HOMOPHONES for ch in group}

    # -- primitives ----------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self.seed}-{self._serial:07d}"

    def weighted(self, options: dict[str, float]) -> str:
        return self.rng.choices(list(options), list(options.values()))[0]

    def area(self, province: str) -> str:
        prefecture = self.rng.choice(pools.PREFECTURES[province])
        return prefecture[:4] + f"{self.rng.randint(1, 20):02d}"

    @contextlib.contextmanager
    def drawing_from(self, stream: random.Random) -> Iterator[None]:
        """Draw from another stream for a while, so the main stream's draws stay as they were."""
        main, self.rng = self.rng, stream
        try:
            yield
        finally:
            self.rng = main

    def given_name(self, sex: str) -> str:
        names = pools.FEMALE_GIVEN if sex == "F" else pools.MALE_GIVEN
        # Zipf-like: the first names of the list are far commoner than the last.
        return self.rng.choices(names, [1 / (i + 1) ** 0.9 for i in range(len(names))])[0]

    def surname(self) -> str:
        return self.rng.choices(self._surnames, self._surname_w)[0]

    def id_number(self, area: str, birth: dt.date, sex: str) -> str:
        order = self.rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
        body = f"{area}{birth:%Y%m%d}{order:03d}"
        return body + check_character(body)

    def person(self, sex: str, birth: dt.date, province: str, surname: str | None = None) -> Person:
        area = self.area(province)
        if self.rng.random() < 0.03 and province in ("530000", "450000") and sex == "F":
            return self._foreign(sex, birth, area)
        sur = surname or self.surname()
        given = self.given_name(sex)
        return Person(
            name=sur + given,
            surname=sur,
            given=given,
            sex=sex,
            birth=birth,
            area=area,
            id_number=self.id_number(area, birth, sex),
            nickname=self.rng.choice(pools.NICKNAMES) if self.rng.random() < 0.4 else None,
            marks=self.rng.choice(pools.MARKS) if self.rng.random() < 0.35 else None,
        )

    def _foreign(self, sex: str, birth: dt.date, area: str) -> Person:
        kind = self.rng.random()
        if kind < 0.5:
            fam, giv = (
                self.rng.choice(pools.VIETNAMESE_FAMILY),
                self.rng.choice(pools.VIETNAMESE_FEMALE),
            )
            name = f"{fam} Thị {giv}"
        elif kind < 0.8:
            fam, giv = "", self.rng.choice(pools.MYANMAR_FEMALE)
            name = giv
        else:
            fam, giv = self.rng.choice(pools.LAO_FAMILY), self.rng.choice(pools.LAO_GIVEN)
            name = f"{giv} {fam}"
        return Person(
            name,
            fam,
            giv,
            sex,
            birth,
            area,
            "",
            latin=True,
            marks=self.rng.choice(pools.MARKS) if self.rng.random() < 0.3 else None,
        )

    def profile(self) -> dict[str, list[str]]:
        out = {}
        for locus in self.table.loci:
            alleles = list(self.table.frequencies[locus])
            weights = list(self.table.frequencies[locus].values())
            out[self.table.names[locus]] = sorted(self.rng.choices(alleles, weights, k=2))
        return out

    def child_profile(
        self, father: dict[str, list[str]], mother: dict[str, list[str]]
    ) -> dict[str, list[str]]:
        child = {
            locus: sorted([self.rng.choice(father[locus]), self.rng.choice(mother[locus])])
            for locus in father
        }
        if self.rng.random() < 0.06:
            # A one-step mutation at one locus, as happens in a few per cent of transmissions.
            locus = self.rng.choice(sorted(child))
            allele = child[locus][0]
            with contextlib.suppress(ValueError):  # a non-numeric allele stays as it is
                child[locus][0] = f"{float(allele) + self.rng.choice((-1, 1)):g}"
        return child

    def degrade(self, profile: dict[str, list[str]]) -> dict[str, list[str]]:
        """A partial profile, as from an old or degraded sample: some loci fail to type."""
        loci = sorted(profile)
        keep = self.rng.sample(loci, max(6, round(len(loci) * self.rng.uniform(0.45, 0.8))))
        return {locus: profile[locus] for locus in loci if locus in keep}

    # -- corruption ----------------------------------------------------------------------------

    def homophone(self, text: str) -> str:
        """Replace one character by another of the same sound, if one is known."""
        spots = [i for i, ch in enumerate(text) if len(self._homophone.get(ch, "")) > 1]
        if not spots:
            return text
        i = self.rng.choice(spots)
        choices = [c for c in self._homophone[text[i]] if c != text[i]]
        return text[:i] + self.rng.choice(choices) + text[i + 1 :]

    def mistype(self, number: str) -> str:
        """One wrong digit, or two adjacent digits swapped."""
        chars = list(number)
        if self.rng.random() < 0.6:
            i = self.rng.randrange(0, 17)
            chars[i] = self.rng.choice([d for d in "0123456789" if d != chars[i]])
        else:
            i = self.rng.randrange(0, 16)
            if chars[i] == chars[i + 1]:
                chars[i] = "0" if chars[i] != "0" else "1"
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)

    def latin_variant(self, name: str) -> str:
        """Spelling drift of a foreign name: diacritics lost, filler dropped, a letter slipped."""
        import unicodedata

        text = "".join(
            c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
        )
        text = text.replace("đ", "d").replace("Đ", "D")
        roll = self.rng.random()
        if roll < 0.3:
            text = text.replace(" Thi ", " ")
        elif roll < 0.6 and len(text) > 5:
            i = self.rng.randrange(1, len(text) - 2)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return text

    def birth_fields(
        self, birth: dt.date, observed: dt.date, precise: float, fuzz_years: int
    ) -> Payload:
        """A BirthDate record as a clerk writes it: exact, year only, or an estimated age range."""
        roll = self.rng.random()
        if roll < precise:
            return birth_record("DAY", birth)
        if roll < precise + (1 - precise) / 2:
            year = birth.year + self.rng.randint(-fuzz_years, fuzz_years)
            return birth_record("YEAR", dt.date(year, 1, 1))
        age = max(0, _age(birth, observed) + self.rng.randint(-fuzz_years, fuzz_years))
        low = max(0, age - self.rng.randint(0, 1))
        return birth_record("AGE_RANGE", None, low, low + self.rng.randint(1, 3), observed)


def birth_record(
    precision: str,
    day: dt.date | None,
    low: int | None = None,
    high: int | None = None,
    assessed: dt.date | None = None,
) -> Payload:
    """A birth field as the schemas carry it, from a precision and a date or an age range."""
    return {
        "precision": precision,
        "date": day,
        "age_min": low,
        "age_max": high,
        "age_assessed_on": assessed,
    }


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    """A day between start and end inclusive."""
    return dt.date.fromordinal(
        rng.randint(start.toordinal(), max(start.toordinal(), end.toordinal()))
    )


def today() -> dt.date:
    """The fixed 'now' of generated data, so the same seed gives the same data in any year."""
    return _TODAY
