"""Each generated run's own DNA world: a population, a kit and the lab's estimated table.

The run never draws profiles from the shipped table: frequencies are drawn afresh around it
(Dirichlet, so populations differ as regional and minority groups do, with alleles the shipped
table lacks), on a kit of its own (a random set of loci, some the shipped table does not have).
The lab's table is what a lab would publish: allele counts in N typed persons, so rare alleles
are missing from it exactly as in a real population study.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hub.matching.kinship import LOCI_FILE, META_FILE, TABLE_FILE, AlleleTable, canonical_locus

# Loci of current 20-24-locus kits beyond the shipped table's 20.
_EXTRA_LOCI = ("D10S1248", "D22S1045", "D1S1656", "SE33", "D6S477")
_KITS = ("Goldeneye 20A", "AGCU EX22", "Huaxia Platinum", "PowerPlex 21", "VeriFiler Plus")
_LABS = ("省公安厅物证鉴定中心", "市公安局刑事科学技术研究所", "司法鉴定中心")
# Lower: populations further from the shipped table.
_CONCENTRATION = 25.0


@dataclass(frozen=True)
class LabWorld:
    """The true population frequencies (what profiles are drawn from) and the lab's table."""

    kit: str
    lab: str
    population: str
    truth: AlleleTable
    lab_table: AlleleTable

    def write_lab_table(self, directory: Path) -> Path:
        """Write the lab's table as a table directory (table.json + CSVs); returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        table = self.lab_table
        rows = ["locus,allele,frequency"]
        for locus, freqs in table.frequencies.items():
            rows.extend(f"{table.display(locus)},{a},{f:.6f}" for a, f in freqs.items())
        (directory / TABLE_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
        rates = ["locus,mutation_rate"]
        rates.extend(f"{table.display(k)},{table.mutation_rate(k)}" for k in table.frequencies)
        (directory / LOCI_FILE).write_text("\n".join(rates) + "\n", encoding="utf-8")
        meta = {
            "name": table.name,
            "population": table.population,
            "kits": list(table.kits),
            "labs": list(table.labs),
            "sample_size": table.default_sample_size,
        }
        (directory / META_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return directory


def _alleles_for(rng: random.Random, shipped: AlleleTable, locus: str) -> dict[str, float]:
    if locus in shipped.frequencies:
        base = dict(shipped.frequencies[locus])
    else:
        centre = rng.randint(11, 20)
        base = {f"{centre + k}": 2.0 ** -abs(k) for k in range(-4, 5)}
    numeric = sorted(float(a) for a in base if a.replace(".", "", 1).isdigit())
    # Alleles this population has and the shipped table lacks: an extra repeat at each end
    # and a microvariant.
    whole = [int(a) for a in numeric if a == int(a)] or [10]
    extra = {f"{min(whole) - 1}", f"{max(whole) + 1}", f"{rng.choice(whole)}.2"}
    total = sum(base.values())
    weights = {a: f / total for a, f in base.items()}
    for allele in sorted(extra - set(weights)):  # in a fixed order: the draws follow it
        weights[allele] = 0.01
    drawn = {a: rng.gammavariate(_CONCENTRATION * w + 0.05, 1.0) for a, w in weights.items()}
    norm = sum(drawn.values())
    return {a: v / norm for a, v in drawn.items() if v / norm > 1e-4}


def draw_world(seed: int, shipped: AlleleTable | None = None) -> LabWorld:
    """The run's population, kit and lab table (seeded; independent of the shipped values)."""
    rng = random.Random(f"dna-world-{seed}")
    shipped = shipped or AlleleTable.load()
    names = [shipped.display(k) for k in shipped.loci]
    # A kit keeps most of the shipped loci and adds some the shipped table does not know.
    kit_loci = rng.sample(names, rng.randint(15, 19)) + rng.sample(_EXTRA_LOCI, rng.randint(1, 4))
    kit = rng.choice(_KITS)
    lab = rng.choice(_LABS)
    population = f"population-{seed}"
    freqs: dict[str, dict[str, float]] = {}
    display: dict[str, str] = {}
    for name in kit_loci:
        key = canonical_locus(name)
        display[key] = name
        freqs[key] = _alleles_for(rng, shipped, key)
    rates = {k: shipped.mutation_rates.get(k, 0.002) for k in freqs}
    truth = AlleleTable(freqs, rates, display, name=f"truth-{seed}", population=population)
    n = rng.choice((300, 500, 800, 1000))
    estimated: dict[str, dict[str, float]] = {}
    for key, table in freqs.items():
        alleles, weights = list(table), list(table.values())
        counts = Counter(rng.choices(alleles, weights, k=2 * n))
        estimated[key] = {a: c / (2 * n) for a, c in sorted(counts.items())}
    lab_table = AlleleTable(
        estimated,
        rates,
        display,
        name=f"lab-{seed}",
        population=population,
        kits=(kit,),
        labs=(lab,),
        default_sample_size=n,
    )
    return LabWorld(kit, lab, population, truth, lab_table)
