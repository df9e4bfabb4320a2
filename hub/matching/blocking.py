"""Blocking keys and the in-memory candidate index.

Each person gets several keys so that a true pair shares at least one even when the name, the
identity number or the exact birth date is missing or wrong. A key is a plain string, usable as an
index key or a Kafka partition key. Stored persons are indexed under slightly wider birth windows
than a query uses, so ages that are a year off still meet.
"""

from __future__ import annotations

import datetime as dt
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import combinations

import numpy as np
import numpy.typing as npt

from hub.matching.columns import PersonColumns
from hub.matching.facts import PersonRef, Sex
from hub.matching.features import Features, NameForms
from hub.matching.names import fuzzy_pinyin, soundex

# DNA keys come from groups of three loci that the profile itself has, whatever its kit: a
# group is used when a hash of its locus names falls in one of _DNA_GROUP_SHARE buckets, so two
# profiles typed with different kits, or one degraded, still pick the same groups from the loci
# they share (about 70 groups for 20 loci, 7 for 10).
_DNA_GROUP_SIZE = 3
_DNA_GROUP_SHARE = 16
# A DNA candidate must share this share of the groups both sides could share (a parent and
# child share them all, but for a mutation); unrelated people share about one in five.
DEFAULT_DNA_MIN_SHARE = 0.5
# At most this many DNA candidates per search, best-sharing first.
DEFAULT_DNA_LIMIT = 40
_LATIN_FILLER = frozenset(("thi", "van", "thj", "ma", "daw", "u", "mg"))
# Widest birth window that still makes year keys; wider than that and only coarse keys are made.
_MAX_YEARS = 12
_CHILD_YEARS = 18
# A birth interval at most this wide (days) is known to the month.
_MONTH_DAYS = 31
# Blocks of weak keys larger than this are skipped at query time (see CandidateIndex).
DEFAULT_MAX_BLOCK = 1500
_WEAK_KEYS = frozenset(("gn", "sn", "pvm", "lt", "lo", "lp", "bd", "ad"))


def _years(f: Features, widen: int) -> list[int]:
    if f.birth_lo is None or f.birth_hi is None:
        return []
    lo = dt.date.fromordinal(f.birth_lo).year - widen
    hi = dt.date.fromordinal(f.birth_hi).year + widen
    if hi - lo > _MAX_YEARS:
        return []
    return list(range(lo, hi + 1))


def _months(f: Features, widen: int) -> list[str]:
    """Birth months ("2015-03") of a birth known to the month, `widen` months either side;
    none for an estimated age (a year-wide block is what made the province keys too coarse)."""
    if f.birth_lo is None or f.birth_hi is None or f.birth_hi - f.birth_lo > _MONTH_DAYS:
        return []
    out: list[str] = []
    for day in (f.birth_lo, f.birth_hi):
        date = dt.date.fromordinal(day)
        index = date.year * 12 + date.month - 1
        out.extend(f"{i // 12}-{i % 12 + 1:02d}" for i in range(index - widen, index + widen + 1))
    return sorted(set(out))


def _nickname_like(text: str) -> bool:
    """丫丫, 小军, 阿强: doubled characters or the 小/阿 prefixes of pet names."""
    return len(text) == 2 and (text[0] == text[1] or text[0] in "小阿")


def _sex(f: Features) -> str:
    return f.sex.value if f.sex is not Sex.UNKNOWN else "U"


def blocking_keys(f: Features, stored: bool) -> set[str]:
    """Every key of a person; `stored=True` for the side kept in an index (wider windows)."""
    keys: set[str] = set()
    widen = 1 if stored else 0
    years = _years(f, widen)
    if f.id_number and len(f.id_number) == 18:
        # Two overlapping parts: one mistyped digit can break only one of them.
        keys.add("id:" + f.id_number[:10])
        keys.add("idt:" + f.id_number[10:17])
    names = ([f.name] if f.name else []) + list(f.aliases)
    for name in names:
        if name.han:
            for y in years:
                if name.given_fuzzy:
                    keys.add(f"gn:{name.given_fuzzy}:{y}")
            if name.surname_py:  # a given name only has no surname to key on
                for decade in {y // 10 for y in years}:
                    keys.add(f"sn:{name.surname_py}{name.given_py[:1]}:{decade}:{_sex(f)}")
            if name is not f.name or _nickname_like(name.text):
                # Nicknames (丫丫, 小军) survive renaming; keyed whole, without birth year.
                keys.add(f"nick:{fuzzy_pinyin(name.text)}:{_sex(f)}")
        else:
            for token in name.given.split():
                if token not in _LATIN_FILLER and len(token) > 1:
                    keys.update(f"lt:{token[:4]}:{y}" for y in years)
            keys.update(_latin_part_keys(name, stored))
    for doc in f.foreign_documents:
        # The number without its country (often left out), whole and in two halves so that
        # one mistyped character leaves one half intact.
        number = doc.rpartition(":")[2]
        if len(number) >= 5:
            keys.add("fd:" + number)
            half = len(number) // 2
            keys.add(f"fdh:{number[:half]}")
            keys.add(f"fdt:{number[half:]}")
    if f.address:
        # Three neighbouring words of an address without area code ("25 de vis"): one
        # mistyped word leaves the other runs (pairs drew ten times the candidates).
        words = f.address.split()
        keys.update(f"ad:{' '.join(words[i:i + 3])}" for i in range(max(len(words) - 2, 1)))
    if f.birth_lo is not None and f.birth_lo == f.birth_hi:
        # A full birth date is rare enough to key on alone: it meets names that are badly
        # mistyped on both parts.
        keys.add(f"bd:{f.birth_lo}")
    if years and f.birth_hi is not None and f.facts.observed_at is not None:
        age_now = (f.facts.observed_at.toordinal() - f.birth_hi) / 365.25
        if age_now < _CHILD_YEARS:
            # A renamed child without number still meets its alert by place, sex and birth
            # month. (Keyed by birth year, this was half of all candidates and grew with the
            # data: of 137 true pairs it found in 8,000 generated persons, the 38 only it found
            # scored at most 6.5 bits, far below review; see bench/blocking_families.py.)
            for province in f.provinces:
                keys.update(f"pvm:{province[:2]}:{_sex(f)}:{m}" for m in _months(f, widen))
            # (A key on sex and birth year alone was tried: it found 3 % more true pairs on
            # generated data, none of which then scored as a hit, at 10x the candidates.)
            for token in f.marks:
                if ":" in token:
                    keys.add(f"mk:{token}:{_sex(f)}")
    keys.update(_dna_keys(f))
    return keys


@lru_cache(maxsize=4096)
def dna_groups(loci: frozenset[str]) -> tuple[tuple[str, ...], ...]:
    """The locus groups a profile with these (canonical) loci is keyed on; kit-independent."""
    return tuple(
        group
        for group in combinations(sorted(loci), _DNA_GROUP_SIZE)
        if zlib.crc32(".".join(group).encode()) % _DNA_GROUP_SHARE == 0
    )


def _dna_profiles(f: Features) -> list[dict[str, tuple[str, str]]]:
    return [p for p in (f.profile, f.father, f.mother) if p]


def dna_loci(f: Features) -> frozenset[str]:
    """Every locus of any of the person's profiles (own, father's, mother's)."""
    return frozenset(locus for p in _dna_profiles(f) for locus in p)


def dna_group_keys(f: Features) -> set[str]:
    """One key per locus group a person's profiles are keyed on, whatever the alleles: an
    index in a database counts with them which of a probe's groups a person could share."""
    return {
        "dnag:" + ".".join(group)
        for profile in _dna_profiles(f)
        for group in dna_groups(frozenset(profile))
    }


def _profile_keys(profile: dict[str, tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(group, allele combination) of one profile. A parent and child share an allele at every
    locus, so they share one combination per group; a mutation breaks only its locus' groups."""
    for group in dna_groups(frozenset(profile)):
        combos = [""]
        for locus in group:
            combos = [f"{c}/{a}" for c in combos for a in set(profile[locus])]
        gid = ".".join(group)
        yield from ((gid, c) for c in combos)


def _latin_part_keys(name: NameForms, stored: bool) -> Iterator[str]:
    """Keys on each part of a Latin name, needing no birth year (it is often missing or wrong):
    one part's sound (Soundex) with the other part's initial, both ways round, so a typo in one
    part still leaves a key. A name missing a part (or of one word) is keyed by its words' sound
    alone; full names are stored under those keys too so that such a name finds them."""
    if name.family and name.first:
        yield f"lf:{soundex(name.family)}:{name.first[0]}"
        yield f"lg:{soundex(name.first)}:{name.family[0]}"
        # Two letters of each part: meets typos that change a Soundex code in both parts.
        yield f"lp:{name.family[:2]}:{name.first[:2]}"
        # Written the other way round (family name first).
        yield f"lf:{soundex(name.first)}:{name.family[0]}"
        if stored:
            yield f"lo:{soundex(name.family)}"
            yield f"lo:{soundex(name.first)}"
        return
    for word in (name.family, name.first, *(name.given.split() if name.one_word else ())):
        if word and word not in _LATIN_FILLER:
            yield f"lo:{soundex(word)}"


def _dna_keys(f: Features) -> Iterator[str]:
    for profile in _dna_profiles(f):
        yield from (f"dna:{gid}:{c}" for gid, c in _profile_keys(profile))




class CandidateIndex:
    """Persons by blocking key, in memory; add, remove (e.g. a closed alert) and query."""

    def __init__(
        self,
        max_block: int | None = DEFAULT_MAX_BLOCK,
        dna_limit: int | None = DEFAULT_DNA_LIMIT,
        dna_min_share: float = DEFAULT_DNA_MIN_SHARE,
    ) -> None:
        self.max_block = max_block
        # None and 0.0: every person sharing any DNA key is a candidate (no bound).
        self.dna_limit = dna_limit
        self.dna_min_share = dna_min_share
        self.dna_profiles = 0
        # DNA keys are counted per candidate, so their buckets hold small integers (cheap to
        # hash) rather than references; (loci, reference) per integer.
        self._dna_by_key: dict[str, dict[str, set[int]]] = {}
        # One integer per profile (a father's and a mother's count apart: a child shares half
        # its alleles with each, so pooling them would let unrelated children share as much).
        self._dna_ids: dict[PersonRef, list[int]] = {}
        self._dna_people: dict[int, tuple[frozenset[str], PersonRef]] = {}
        self._next_dna_id = 0
        self.last_dna_candidates = 0
        # Slots (see `columns`) by key: small integers hash faster than references.
        self._by_key: dict[str, set[int]] = {}
        self._people: dict[PersonRef, tuple[Features, frozenset[str]]] = {}
        # The same persons as numeric columns, for the vectorised bound of a search.
        self.columns = PersonColumns()
        self._slots: dict[PersonRef, int] = {}
        self._by_slot: list[Features | None] = []
        self.given_counts: Counter[str] = Counter()
        self.surname_counts: Counter[str] = Counter()
        # Persons with a Chinese name, kept as a running total (Counter.total() walks every name).
        self.named = 0
        # Latin names' family ("f:...") and first given ("g:...") names, for their frequencies.
        self.latin_counts: Counter[str] = Counter()
        self.latin_named = 0

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, ref: object) -> bool:
        return ref in self._people

    def add(self, person: Features) -> None:
        """Index a person (replacing an earlier version with the same reference)."""
        ref = person.facts.ref
        if ref in self._people:
            self.remove(ref)
        # Interned so that the index and each person's key set share one string per key.
        keys = frozenset(sys.intern(k) for k in blocking_keys(person, stored=True))
        self._people[ref] = (person, keys)
        slot = self.columns.add(person)
        self._slots[ref] = slot
        if slot == len(self._by_slot):
            self._by_slot.append(person)
        else:
            self._by_slot[slot] = person
        profiles = _dna_profiles(person)
        if profiles:
            self.dna_profiles += 1
            self._dna_ids[ref] = []
        for profile in profiles:
            self._next_dna_id += 1
            pid = self._next_dna_id
            self._dna_ids[ref].append(pid)
            self._dna_people[pid] = (frozenset(profile), ref)
            for group, combo in _profile_keys(profile):
                self._dna_by_key.setdefault(group, {}).setdefault(combo, set()).add(pid)
        for key in keys:
            if not key.startswith("dna:"):
                self._by_key.setdefault(key, set()).add(slot)
        if person.name and person.name.han:
            self.given_counts[person.name.given_py] += 1
            self.surname_counts[person.name.surname_py] += 1
            self.named += 1
        elif person.name and not person.name.han:
            self._count_latin(person.name, 1)

    def remove(self, ref: PersonRef) -> bool:
        """Drop a person; False if it was not there."""
        entry = self._people.pop(ref, None)
        if entry is None:
            return False
        person, keys = entry
        slot = self._slots.pop(ref)
        self.columns.remove(slot)
        self._by_slot[slot] = None
        pids = self._dna_ids.pop(ref, [])
        if pids:
            self.dna_profiles -= 1
        for pid, profile in zip(pids, _dna_profiles(person), strict=True):
            del self._dna_people[pid]
            for group, combo in _profile_keys(profile):
                combos = self._dna_by_key.get(group, {})
                combos.get(combo, set()).discard(pid)
                if combo in combos and not combos[combo]:
                    del combos[combo]
                if not combos:
                    self._dna_by_key.pop(group, None)
        for key in keys:
            if key.startswith("dna:"):
                continue
            bucket = self._by_key.get(key)
            if bucket is not None:
                bucket.discard(slot)
                if not bucket:
                    del self._by_key[key]
        if person.name and person.name.han:
            self.given_counts[person.name.given_py] -= 1
            self.surname_counts[person.name.surname_py] -= 1
            self.named -= 1
        elif person.name and not person.name.han:
            self._count_latin(person.name, -1)
        return True

    def _count_latin(self, name: NameForms, step: int) -> None:
        if name.family:
            self.latin_counts["f:" + name.family] += step
        if name.first:
            self.latin_counts["g:" + name.first] += step
        self.latin_named += step

    def remove_business_id(self, business_id: str) -> int:
        """Drop every person of one alert, record or notice; how many were dropped."""
        refs = [r for r in self._people if r.business_id == business_id]
        for ref in refs:
            self.remove(ref)
        return len(refs)

    def get(self, ref: PersonRef) -> Features | None:
        entry = self._people.get(ref)
        return entry[0] if entry else None

    def query_keys(self, keys: Iterable[str]) -> set[PersonRef]:
        """Everyone indexed under at least one of the keys (see `query_slots`)."""
        people = self._by_slot
        return {p.facts.ref for p in (people[s] for s in self.query_slots(keys)) if p is not None}

    def query_slots(self, keys: Iterable[str]) -> set[int]:
        """The slots of everyone indexed under at least one of the keys.

        A weak key (a common given name, a province and birth year) whose block has grown past
        `max_block` persons is skipped: agreement on it is worth little and scoring thousands of
        candidates per search is not. Number, nickname, mark and DNA keys are never skipped.
        """
        found: set[int] = set()
        limit = self.max_block
        for key in keys:
            if key.startswith("dna:"):
                continue  # counted by dna_candidates
            bucket = self._by_key.get(key)
            if not bucket:
                continue
            if limit is not None and len(bucket) > limit and key.split(":", 1)[0] in _WEAK_KEYS:
                continue
            found |= bucket
        return found

    def dna_candidates(self, person: Features) -> set[PersonRef]:
        """Persons with a profile sharing enough DNA locus groups with one of the person's, at
        most `dna_limit`, best first.

        A pair of profiles is scored by the share of the groups both could share (groups of the
        probe's loci that the other also typed) that they do share; without a bound, every
        person sharing one key is a candidate.
        """
        best: dict[PersonRef, float] = {}
        for profile in _dna_profiles(person):
            for ref, share in self._profile_candidates(profile):
                best[ref] = max(share, best.get(ref, 0.0))
        ranked = sorted(best.items(), key=lambda item: -item[1])
        if self.dna_limit is not None:
            ranked = ranked[: self.dna_limit]
        self.last_dna_candidates = len(ranked)
        return {ref for ref, _ in ranked}

    def _profile_candidates(
        self, profile: dict[str, tuple[str, str]]
    ) -> Iterator[tuple[PersonRef, float]]:
        by_group: dict[str, set[str]] = {}
        for group, combo in _profile_keys(profile):
            by_group.setdefault(group, set()).add(combo)
        shared: Counter[int] = Counter()
        for group, combos in by_group.items():
            indexed = self._dna_by_key.get(group)
            if not indexed:
                continue
            sharing: set[int] = set()
            for combo in combos:
                sharing.update(indexed.get(combo, ()))
            shared.update(sharing)  # one count per group, however many combinations agree
        people = self._dna_people
        bounded = self.dna_limit is not None or self.dna_min_share > 0.0
        probe_loci = frozenset(profile)
        # Most profiles were typed with the same kit: count possible groups once per locus set.
        # A group is chosen by its own loci, so the probe's groups the other also typed are the
        # groups of the loci both typed (dna_groups is cached across searches).
        possible_by_loci: dict[frozenset[str], int] = {}
        for pid, have in shared.items():
            loci, ref = people[pid]
            if not bounded:
                yield ref, 1.0
                continue
            possible = possible_by_loci.get(loci)
            if possible is None:
                possible = len(dna_groups(probe_loci & loci))
                possible_by_loci[loci] = possible
            share = have / max(1, possible)
            if share >= self.dna_min_share:
                yield ref, share

    def candidates(self, person: Features) -> list[Features]:
        """Everyone sharing a blocking key with the person (DNA keys: see dna_candidates)."""
        return self.at_slots(self.candidate_slots(person))

    def candidate_slots(self, person: Features) -> npt.NDArray[np.int64]:
        """The slots in `columns` of everyone sharing a blocking key with the person."""
        found = self.query_slots(blocking_keys(person, stored=False))
        slots = self._slots
        found.update(slots[r] for r in self.dna_candidates(person))
        return np.fromiter(found, dtype=np.int64, count=len(found))

    def at_slots(self, chosen: npt.NDArray[np.int64]) -> list[Features]:
        """The persons in these slots."""
        people = self._by_slot
        return [p for p in (people[s] for s in chosen.tolist()) if p is not None]
