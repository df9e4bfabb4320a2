"""DNA evidence that holds on other labs' data: tables per lab and kit, NRC II 5/2N and θ,
trio/duo rules, DNA contradicted by sex or age, and DNA keys from any kit's loci."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import pytest

from hub.errors import MatchingModelError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import CandidateIndex, blocking_keys, dna_groups
from hub.matching.facts import (
    BirthInfo,
    DatePrecision,
    DnaOrigin,
    PersonFacts,
    PersonRef,
    Sex,
    SourceKind,
    StrProfile,
)
from hub.matching.features import prepare
from hub.matching.kinship import (
    AlleleTable,
    KinshipKind,
    TableSet,
    match_probability,
    parentage,
    paternity_index,
)
from hub.matching.matcher import DNA_NOT_ALONE_MAX_BITS, Decision, Matcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract_samples import catalog, sample_payloads

from hub.avro import decode_datum, encode_datum

SHIPPED = AlleleTable.load()


def _one_locus(theta: float, n: int = 500) -> AlleleTable:
    """TH01 with 6: 0.1, 7: 0.2, 9: 0.7, no mutation: small enough to compute by hand."""
    return AlleleTable(
        frequencies={"TH01": {"6": 0.1, "7": 0.2, "9": 0.7}},
        mutation_rates={"TH01": 0.0},
        names={"TH01": "TH01"},
        sample_sizes={"TH01": n},
        theta=theta,
        default_sample_size=n,
    )


def _write_table(
    directory: Path, rows: str, meta: dict[str, object] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "str_allele_frequencies.csv").write_text(
        "locus,allele,frequency\n" + rows, encoding="utf-8"
    )
    if meta is not None:
        (directory / "table.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


class TestTableValidation:
    def test_a_valid_table_loads_with_its_sample_size_and_kits(self, tmp_path: Path) -> None:
        _write_table(
            tmp_path,
            "TH01,6,0.3\nTH01,9.3,0.7\nSE33,20,0.5\nSE33,21,0.5\n",
            {"name": "lab-a", "kits": ["Kit A"], "labs": ["Lab A"], "sample_size": 400,
             "sample_sizes": {"SE33": 250}},
        )
        table = AlleleTable.load(tmp_path)
        assert table.name == "lab-a" and table.kits == ("Kit A",)
        assert table.sample_sizes == {"TH01": 400, "SE33": 250}
        # SE33 has no mutation rate in the shipped list: it still gets one.
        assert table.mutation_rate("SE33") > 0

    def test_frequencies_not_summing_to_one_name_file_and_locus(self, tmp_path: Path) -> None:
        _write_table(tmp_path, "TH01,6,0.3\nTH01,7,0.3\n", {"sample_size": 400})
        with pytest.raises(MatchingModelError, match=r"frequencies.csv: .*TH01 sum to 0\.600"):
            AlleleTable.load(tmp_path)

    def test_malformed_allele_names_row_locus_and_allele(self, tmp_path: Path) -> None:
        _write_table(tmp_path, "TH01,6,0.5\nTH01,9,3,0.5\n", {"sample_size": 400})
        # "9,3" (a comma for the decimal point) splits the row: the allele is "9".
        with pytest.raises(MatchingModelError, match="row 3"):
            AlleleTable.load(tmp_path)
        _write_table(tmp_path, "TH01,6,0.5\nTH01,nine,0.5\n", {"sample_size": 400})
        with pytest.raises(MatchingModelError, match="row 3: locus TH01 allele 'nine'"):
            AlleleTable.load(tmp_path)

    def test_a_table_without_sample_size_is_refused(self, tmp_path: Path) -> None:
        _write_table(tmp_path, "TH01,6,1.0\n")
        with pytest.raises(MatchingModelError, match="sample size N"):
            AlleleTable.load(tmp_path)
        _write_table(tmp_path, "TH01,6,1.0\n", {"sample_size": 0})
        with pytest.raises(MatchingModelError, match="sample_size"):
            AlleleTable.load(tmp_path)

    def test_zero_and_repeated_frequencies_are_refused(self, tmp_path: Path) -> None:
        _write_table(tmp_path, "TH01,6,1.0\nTH01,7,0\n", {"sample_size": 10})
        with pytest.raises(MatchingModelError, match="row 3: locus TH01 allele 7: frequency"):
            AlleleTable.load(tmp_path)
        _write_table(tmp_path, "TH01,6,0.5\nTH01,6.0,0.5\n", {"sample_size": 10})
        with pytest.raises(MatchingModelError, match=r"allele 6\.0 listed twice"):
            AlleleTable.load(tmp_path)

    def test_shipped_table_states_its_sample_size(self) -> None:
        assert SHIPPED.default_sample_size == 1000
        assert SHIPPED.min_frequency("TH01") == pytest.approx(0.0025)


class TestNrcFormulas:
    def test_unlisted_allele_gets_five_over_two_n(self) -> None:
        assert _one_locus(0.0, n=500).freq("TH01", "8") == pytest.approx(5 / 1000)
        assert _one_locus(0.0, n=200).freq("TH01", "8") == pytest.approx(5 / 400)
        # A listed allele keeps its frequency.
        assert _one_locus(0.0).freq("TH01", "9") == pytest.approx(0.7)

    def test_match_probability_is_nrc_ii_4_10(self) -> None:
        """Balding-Nichols: heterozygote 2[θ+(1-θ)p][θ+(1-θ)q] / [(1+θ)(1+2θ)], homozygote
        [2θ+(1-θ)p][3θ+(1-θ)p] / [(1+θ)(1+2θ)]; by hand for p = 0.1, q = 0.2, θ = 0.01."""
        table = _one_locus(0.01)
        het = 2 * 0.109 * 0.208 / (1.01 * 1.02)
        hom = 0.119 * 0.129 / (1.01 * 1.02)
        assert match_probability(table, "TH01", ("6", "7")) == pytest.approx(het)
        assert match_probability(table, "TH01", ("6", "6")) == pytest.approx(hom)
        # θ = 0: the product rule (2pq, p²).
        plain = _one_locus(0.0)
        assert match_probability(plain, "TH01", ("6", "7")) == pytest.approx(0.04)
        assert match_probability(plain, "TH01", ("6", "6")) == pytest.approx(0.01)

    def test_duo_index_by_hand(self) -> None:
        """Child 7/7, parent 7/9: 1/(2p) without θ; 0.5(1+2θ)/(2θ+(1-θ)p) with θ."""
        assert paternity_index(_one_locus(0.0), "TH01", ("7", "7"), [("7", "9")]) == (
            pytest.approx(2.5)
        )
        with_theta = 0.5 * 1.02 / (0.02 + 0.99 * 0.2)
        assert paternity_index(_one_locus(0.01), "TH01", ("7", "7"), [("7", "9")]) == (
            pytest.approx(with_theta)
        )

    def test_trio_index_by_hand(self) -> None:
        """Child 6/7, father 6/9, mother 7/9: 0.25 / 2 p6 p7 without θ; with θ the child's
        alleles are drawn given the parents' four."""
        plain = paternity_index(_one_locus(0.0), "TH01", ("6", "7"), [("6", "9"), ("7", "9")])
        assert plain == pytest.approx(0.25 / 0.04)
        theta = paternity_index(_one_locus(0.01), "TH01", ("6", "7"), [("6", "9"), ("7", "9")])
        denominator = 2 * (0.01 + 0.099) / 1.03 * (0.01 + 0.198) / 1.04
        assert theta == pytest.approx(0.25 / denominator)

    def test_unlisted_allele_in_a_duo_uses_five_over_two_n(self) -> None:
        """Child 7/8 (8 not in the table, N = 500), parent 7/9: PI = 1/(4 p8) at θ = 0."""
        pi = paternity_index(_one_locus(0.0), "TH01", ("7", "8"), [("7", "9")])
        assert pi == pytest.approx(0.5 * 0.005 / (2 * 0.2 * 0.005))

    def test_theta_makes_a_match_count_less(self) -> None:
        """θ lowers indices of matches on rare alleles (relatives in the population)."""
        low, high = _one_locus(0.0), _one_locus(0.03)
        assert paternity_index(high, "TH01", ("6", "6"), [("6", "9")]) < paternity_index(
            low, "TH01", ("6", "6"), [("6", "9")]
        )


def _draw(rng: random.Random, table: AlleleTable) -> StrProfile:
    out: StrProfile = {}
    for locus in table.loci:
        alleles = list(table.frequencies[locus])
        pair = rng.choices(alleles, list(table.frequencies[locus].values()), k=2)
        out[locus] = (pair[0], pair[1])
    return out


def _family(seed: int, table: AlleleTable = SHIPPED) -> tuple[StrProfile, StrProfile, StrProfile]:
    rng = random.Random(seed)
    father, mother = _draw(rng, table), _draw(rng, table)
    child = {k: (rng.choice(father[k]), rng.choice(mother[k])) for k in father}
    return father, mother, child


def _break(child: StrProfile, parent: StrProfile, locus: str) -> StrProfile:
    """Give the child at one locus alleles the parent lacks (one step away)."""
    out = dict(child)
    gone = [f"{float(a) + 1:g}" for a in parent[locus] if f"{float(a) + 1:g}" not in parent[locus]]
    other = [f"{float(a) - 1:g}" for a in parent[locus] if f"{float(a) - 1:g}" not in parent[locus]]
    out[locus] = (gone[0], (other or gone)[0])
    return out


def _alert(
    father: StrProfile | None, mother: StrProfile | None, sex: Sex = Sex.FEMALE
) -> PersonFacts:
    return PersonFacts(
        ref=PersonRef(SourceKind.ALERT, "e-a", "A-1"),
        sex=sex,
        birth=BirthInfo(DatePrecision.DAY, dt.date(2015, 5, 1)),
        observed_at=dt.date(2018, 5, 1),
        father_profile=father,
        mother_profile=mother,
    )


def _rescue(
    profile: StrProfile, sex: Sex = Sex.FEMALE, age: int = 8, ref: str = "S-1"
) -> PersonFacts:
    return PersonFacts(
        ref=PersonRef(SourceKind.RESCUE, "e-" + ref, ref),
        sex=sex,
        birth=BirthInfo(DatePrecision.AGE_RANGE, None, age, age + 1),
        observed_at=dt.date(2024, 5, 1),
        str_profile=profile,
    )


class TestConclusions:
    def test_trio_and_duo_are_reported_apart(self) -> None:
        father, mother, child = _family(1)
        trio = parentage(SHIPPED, child, father, mother)
        duo = parentage(SHIPPED, child, None, mother)
        assert trio is not None and duo is not None
        assert trio.kind is KinshipKind.TRIO and "trio (both parents)" in trio.describe()
        assert duo.kind is KinshipKind.DUO and "duo (one parent)" in duo.describe()

    def test_duo_with_an_inconsistent_locus_never_notifies_on_dna_alone(self) -> None:
        _father, mother, child = _family(2)
        broken = _break(child, mother, "D18S51")
        duo = parentage(SHIPPED, broken, None, mother)
        assert duo is not None and duo.inconsistent_loci == ("D18S51",)
        assert not duo.strong
        matcher = Matcher()
        scored = matcher.score_pair(prepare(_alert(None, mother)), prepare(_rescue(broken)))
        assert scored.contributions["dna"] <= DNA_NOT_ALONE_MAX_BITS
        assert matcher.decide(scored) is not Decision.NOTIFY
        assert any("duo with inconsistent loci" in n for n in scored.notes)

    def test_trio_with_one_inconsistent_locus_may_still_notify(self) -> None:
        """A trio explains one mutation with both parents typed: the index stands."""
        father, mother, child = _family(3)
        broken = _break(child, mother, "D18S51")
        broken["D18S51"] = (father["D18S51"][0], broken["D18S51"][1])
        trio = parentage(SHIPPED, broken, father, mother)
        assert trio is not None and len(trio.inconsistent_loci) == 1
        assert trio.strong

    def test_dna_contradicted_by_sex_goes_to_review(self) -> None:
        father, mother, child = _family(4)
        matcher = Matcher()
        alert = prepare(_alert(father, mother, Sex.FEMALE))
        agreeing = matcher.score_pair(alert, prepare(_rescue(child, Sex.FEMALE)))
        assert matcher.decide(agreeing) is Decision.NOTIFY
        other_sex = matcher.score_pair(alert, prepare(_rescue(child, Sex.MALE)))
        assert matcher.dna_decides(other_sex)
        assert matcher.decide(other_sex) is Decision.REVIEW
        hit = matcher.to_hit(other_sex)
        assert hit is not None and any("sex differs" in line for line in hit.explanation)

    def test_dna_contradicted_by_age_goes_to_review(self) -> None:
        father, mother, child = _family(5)
        matcher = Matcher()
        alert = prepare(_alert(father, mother))
        # Born 2015, rescued in 2024 "aged 30": years apart.
        scored = matcher.score_pair(alert, prepare(_rescue(child, age=30)))
        assert matcher.conflicts(scored) == ("age far off",)
        assert matcher.decide(scored) is Decision.REVIEW

    def test_profiles_searched_raise_the_bar_for_dna_alone(self) -> None:
        _father, mother, child = _family(6)
        matcher = Matcher()
        alert, rescue = prepare(_alert(None, mother)), prepare(_rescue(child))
        few = matcher.score_pair(alert, rescue)
        kin = few.comparison.kinship
        assert kin is not None and kin.strong and matcher.dna_decides(few)
        index = CandidateIndex()
        index.add(prepare(_rescue(child, ref="S-x")))
        # Ten times the profiles at which this index would just pass (counted, not stored).
        searched = int(kin.cpi / 10_000 * 1000 * 10)
        index.dna_profiles = searched
        many = matcher.score_pair(alert, rescue, index)
        assert matcher.dna_bar(searched) > kin.cpi
        assert not matcher.dna_decides(many)


class TestTablesPerLab:
    def _two(self, tmp_path: Path) -> TableSet:
        _write_table(tmp_path / "a", "TH01,6,0.5\nTH01,7,0.5\n",
                     {"name": "lab-a", "kits": ["Kit A"], "labs": ["Lab A"], "sample_size": 100})
        _write_table(tmp_path / "b", "TH01,6,0.1\nTH01,7,0.9\n",
                     {"name": "pop-b", "kits": ["Kit B", "*"], "population": "Hui",
                      "sample_size": 300})
        return TableSet.load(tmp_path)

    def test_the_table_is_chosen_by_lab_then_kit_then_default(self, tmp_path: Path) -> None:
        tables = self._two(tmp_path)
        assert tables.choose(DnaOrigin("Kit B", "Lab A")).name == "lab-a"
        assert tables.choose(DnaOrigin("kit-a", None)).name == "lab-a"  # spelling-blind
        assert tables.choose(DnaOrigin("Other", None)).name == "pop-b"  # the "*" default
        assert tables.choose(None).name == "pop-b"

    def test_a_table_missing_loci_does_not_fit_and_cannot_notify(self) -> None:
        """A kit with loci the table lacks: coverage shown, DNA capped, no NOTIFY on DNA."""
        small = AlleleTable(
            {k: SHIPPED.frequencies[k] for k in SHIPPED.loci[:10]},
            SHIPPED.mutation_rates,
            SHIPPED.names,
            name="ten-loci",
        )
        father, mother, child = _family(7)
        matcher = Matcher(table=small)
        alert, rescue = prepare(_alert(father, mother)), prepare(_rescue(child))
        scored = matcher.score_pair(alert, rescue)
        kin = scored.comparison.kinship
        assert kin is not None and not kin.table_fits and not kin.strong
        assert scored.contributions["dna"] == DNA_NOT_ALONE_MAX_BITS
        assert matcher.decide(scored) is not Decision.NOTIFY
        assert any("10/20 loci covered" in n and "DOES NOT FIT" in n for n in scored.notes)

    def test_alleles_the_table_never_saw_make_it_unfit(self) -> None:
        table = _one_locus(0.01)
        assert table.coverage({"TH01": ("6", "7")}).fits
        assert table.coverage({"TH01": ("6", "8")}).fits  # one rare allele happens
        two = {"TH01": ("8", "11"), "VWA": ("14", "15")}
        coverage = table.coverage(two)
        assert not coverage.fits and coverage.unseen_alleles == ("TH01 11", "TH01 8")


def _kit(names: list[str]) -> AlleleTable:
    freqs = {n: {str(a): 1 / 8 for a in range(8, 16)} for n in names}
    return AlleleTable(freqs, {n: 0.001 for n in names}, {n: n for n in names})


class TestDnaKeys:
    def test_any_kit_makes_keys_and_a_degraded_child_finds_its_parent(self) -> None:
        """Loci the shipped groups never named (SE33, D1S1656, ...) still make keys; a child
        typed on half of them, with another kit's extra loci, still meets the parent."""
        rng = random.Random(8)
        names = ["SE33", "D1S1656", "D10S1248", "D22S1045", "D6S477", "TH01", "FGA",
                 "D8S1179", "D21S11", "D18S51", "VWA", "TPOX", "CSF1PO", "D5S818"]
        table = _kit(names)
        father, _mother, child = _family(9, table)
        assert dna_groups(frozenset(father))
        partial = {k: v for i, (k, v) in enumerate(sorted(child.items())) if i % 2 == 0}
        partial["PENTAE"] = ("11", "12")  # a locus of the child's kit only
        parents = CandidateIndex()
        parents.add(prepare(_alert(father, None)))
        for i in range(200):
            parents.add(prepare(PersonFacts(
                ref=PersonRef(SourceKind.ALERT, f"e{i}", f"A-u{i}"),
                father_profile=_draw(rng, table),
            )))
        probe = prepare(_rescue(partial))
        assert any(k.startswith("dna:") for k in blocking_keys(probe, stored=False))
        found = {f.facts.ref.business_id for f in parents.candidates(probe)}
        assert "A-1" in found
        unbounded = CandidateIndex(dna_limit=None, dna_min_share=0.0)
        for ref in list(parents._people):
            person = parents.get(ref)
            assert person is not None
            unbounded.add(person)
        everyone = {f.facts.ref.business_id for f in unbounded.candidates(probe)}
        assert "A-1" in everyone
        # The bound keeps the parent and drops most of those sharing a group by chance.
        assert len(found) < len(everyone) / 3

    def test_groups_do_not_depend_on_the_other_loci_of_the_kit(self) -> None:
        """Two kits sharing loci key those loci on the same groups (nothing shifts)."""
        a = frozenset(["TH01", "FGA", "VWA", "D8S1179", "D21S11", "D18S51", "SE33"])
        b = frozenset(["TH01", "FGA", "VWA", "D8S1179", "D21S11", "D18S51", "D1S1656"])
        shared = a & b
        in_a = {g for g in dna_groups(a) if set(g) <= shared}
        in_b = {g for g in dna_groups(b) if set(g) <= shared}
        assert in_a == in_b == set(dna_groups(shared))


class TestProfileEvents:
    def test_v1_rescue_notice_reads_with_v2_and_kit_is_kept(self) -> None:
        """Written with v1 (no population): read with v2, population null, kit as written."""
        v1, v2 = catalog().version("rescue-notice", 1), catalog().version("rescue-notice", 2)
        payload = sample_payloads()["rescue-notice"]
        read = decode_datum(v1.parsed, v2.parsed, encode_datum(v1.parsed, payload))
        profile = read["str_profile"]
        assert profile is not None and profile["population"] is None
        facts = facts_from_rescue(read)
        assert facts.dna_origin == DnaOrigin(profile["kit"], profile["lab"], None)

    def test_v2_parents_profile_reads_with_v1(self) -> None:
        v1 = catalog().version("parents-dna-profile", 1)
        v2 = catalog().version("parents-dna-profile", 2)
        payload = sample_payloads()["parents-dna-profile"]
        mother = dict(payload["mother"], population="Han, Yunnan")
        written = encode_datum(v2.parsed, dict(payload, mother=mother))
        read = decode_datum(v2.parsed, v1.parsed, written)
        assert "population" not in read["mother"]
        again = decode_datum(v2.parsed, v2.parsed, written)
        alert = dict(sample_payloads()["missing-person-alert"], alert_id=payload["alert_id"])
        facts = facts_from_alert(alert, again)
        assert facts.parents_dna_origin is not None
        assert facts.parents_dna_origin.population == "Han, Yunnan"

    def test_kit_unknown_is_read_as_unknown(self) -> None:
        assert not DnaOrigin("unknown").kit_known
        assert not DnaOrigin("").kit_known
        assert DnaOrigin("Goldeneye 20A").kit_known

    def test_migrant_record_child_profile_in_v2_and_absent_in_v1(self) -> None:
        """v1 records read with v2 have no child profile; a v2 child's profile is matched as
        its own (with kit and lab) and dropped by a v1 reader."""
        v1, v2 = catalog().version("migrant-record", 1), catalog().version("migrant-record", 2)
        payload = sample_payloads()["migrant-record"]
        old = decode_datum(v1.parsed, v2.parsed, encode_datum(v1.parsed, payload))
        assert old["children"][0]["str_profile"] is None
        assert facts_from_migrant_record(old)[1].str_profile is None
        profile = {"kit": "AGCU EX22", "lab": "苏州市公安局", "population": None,
                   "loci": [{"locus": "TH01", "alleles": ["6", "9.3"]}]}
        child = dict(payload["children"][0], str_profile=profile)
        written = encode_datum(v2.parsed, dict(payload, children=[child]))
        assert "str_profile" not in decode_datum(v2.parsed, v1.parsed, written)["children"][0]
        facts = facts_from_migrant_record(decode_datum(v2.parsed, v2.parsed, written))
        assert facts[1].str_profile == {"TH01": ("6", "9.3")}
        assert facts[1].dna_origin == DnaOrigin("AGCU EX22", "苏州市公安局", None)
        assert facts[0].str_profile is None  # the registrant has none


class TestWeakDna:
    def test_a_duo_over_few_loci_cannot_notify_on_dna_alone(self) -> None:
        """A degraded child sample compared with one parent over 10 loci: capped, noted."""
        father, mother, child = _family(10)
        partial = dict(sorted(child.items())[:10])
        matcher = Matcher()
        scored = matcher.score_pair(prepare(_alert(None, mother)), prepare(_rescue(partial)))
        kin = scored.comparison.kinship
        assert kin is not None and kin.kind is KinshipKind.DUO and kin.loci_compared == 10
        assert scored.contributions["dna"] <= DNA_NOT_ALONE_MAX_BITS
        assert any("duo over 10 loci" in n for n in scored.notes)
        # The same ten loci with both parents (a trio) are not capped.
        trio = matcher.score_pair(prepare(_alert(father, mother)), prepare(_rescue(partial)))
        assert trio.contributions["dna"] > DNA_NOT_ALONE_MAX_BITS
