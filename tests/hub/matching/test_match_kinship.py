"""Parent-child kinship likelihood ratios."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hub.errors import MatchingModelError
from hub.matching.facts import StrProfile
from hub.matching.kinship import (
    AlleleTable,
    Conclusion,
    KinshipKind,
    identity,
    normalise_profile,
    parentage,
)

TABLE = AlleleTable.load()


def _draw(rng: random.Random) -> StrProfile:
    out = {}
    for locus in TABLE.loci:
        alleles = list(TABLE.frequencies[locus])
        weights = list(TABLE.frequencies[locus].values())
        pair = rng.choices(alleles, weights, k=2)
        out[locus] = (pair[0], pair[1])
    return out


def _family(seed: int) -> tuple[StrProfile, StrProfile, StrProfile]:
    rng = random.Random(seed)
    father, mother = _draw(rng), _draw(rng)
    child = {locus: (rng.choice(father[locus]), rng.choice(mother[locus])) for locus in father}
    return father, mother, child


def _mutate(child: StrProfile, loci: list[str], parents: list[StrProfile]) -> StrProfile:
    """Give the child at each locus an allele neither parent has, one repeat away."""
    out = dict(child)
    for locus in loci:
        parental = {a for p in parents for a in p[locus]}
        candidates = [f"{float(a) + step:g}" for a in out[locus] for step in (1, -1, 2, -2, 3)]
        new = next(c for c in candidates if c not in parental)
        out[locus] = (new, out[locus][1]) if out[locus][1] in parental else (out[locus][0], new)
        assert not set(out[locus]) <= parental or True
    return out


class TestKinship:
    def test_trio_of_true_family_supports_parentage(self) -> None:
        """A child drawn from both parents gives CPI far above 10,000 over 20 loci."""
        father, mother, child = _family(1)
        result = parentage(TABLE, child, father, mother)
        assert result is not None
        assert result.kind is KinshipKind.TRIO
        assert result.loci_compared == 20
        assert result.conclusion is Conclusion.SUPPORTED
        assert result.cpi > 1e6
        assert result.strong

    def test_duo_with_one_parent_supports_but_weaker(self) -> None:
        """One parent only: still supported, but with a smaller index than the trio."""
        father, mother, child = _family(2)
        trio = parentage(TABLE, child, father, mother)
        duo = parentage(TABLE, child, None, mother)
        assert trio is not None and duo is not None
        assert duo.kind is KinshipKind.DUO
        assert duo.conclusion is Conclusion.SUPPORTED
        assert duo.cpi < trio.cpi

    def test_one_mutation_lowers_index_without_excluding(self) -> None:
        """A single inconsistent locus gets a mutation-based index, not zero."""
        father, mother, child = _family(3)
        clean = parentage(TABLE, child, father, mother)
        mutated = _mutate(child, ["D18S51"], [father, mother])
        result = parentage(TABLE, mutated, father, mother)
        assert clean is not None and result is not None
        assert result.inconsistent_loci == ("D18S51",)
        assert 0 < result.cpi < clean.cpi
        assert result.conclusion is not Conclusion.EXCLUDED

    def test_one_mutation_in_duo_is_tolerated(self) -> None:
        """Duo with one inconsistent locus: index stays positive, parentage not excluded."""
        father, _, child = _family(4)
        mutated = _mutate(child, ["FGA"], [father])
        result = parentage(TABLE, mutated, father, None)
        assert result is not None and result.cpi > 0
        assert result.conclusion is not Conclusion.EXCLUDED

    def test_three_inconsistent_loci_exclude(self) -> None:
        """Three or more loci inconsistent with inheritance exclude parentage."""
        father, mother, child = _family(5)
        mutated = _mutate(child, ["D18S51", "FGA", "vWA".upper()], [father, mother])
        result = parentage(TABLE, mutated, father, mother)
        assert result is not None
        assert len(result.inconsistent_loci) == 3
        assert result.conclusion is Conclusion.EXCLUDED

    def test_unrelated_child_is_excluded(self) -> None:
        """A child from another family fails at many loci."""
        father, mother, _ = _family(6)
        _, _, stranger = _family(7)
        result = parentage(TABLE, stranger, father, mother)
        assert result is not None and result.conclusion is Conclusion.EXCLUDED

    def test_profiles_from_different_labs_compare(self) -> None:
        """Locus spelling and allele formatting are normalised ('Penta D', '15.0')."""
        profile = normalise_profile({"Penta D": ("9", "15.0"), "vWA": ("14", "17")})
        assert profile == {"PENTAD": ("9", "15"), "VWA": ("14", "17")}

    def test_malformed_table_is_refused_with_row_and_field(self, tmp_path: Path) -> None:
        """A frequency that is not a number names the file, row and field."""
        (tmp_path / "str_loci.csv").write_text(
            "locus,mutation_rate\nTH01,0.001\n", encoding="utf-8"
        )
        (tmp_path / "str_allele_frequencies.csv").write_text(
            "locus,allele,frequency\nTH01,9,abc\n", encoding="utf-8"
        )
        (tmp_path / "table.json").write_text('{"sample_size": 500}', encoding="utf-8")
        with pytest.raises(MatchingModelError, match="row 2: locus TH01 allele 9 field frequency"):
            AlleleTable.load(tmp_path)


class TestIdentity:
    def test_same_profile_twice_is_identity(self) -> None:
        """Two samples of one child give a large same-person ratio; another child is excluded."""
        _, _, child = _family(8)
        _, _, other = _family(9)
        same = identity(TABLE, child, dict(child))
        different = identity(TABLE, child, other)
        assert same is not None and same.kind is KinshipKind.IDENTITY
        assert same.conclusion is Conclusion.SUPPORTED and same.cpi > 1e10
        assert different is not None and different.conclusion is Conclusion.EXCLUDED
