"""hubctl dna tables: the allele-frequency tables the matcher holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ops.cli.match import allele_tables


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dna tables` to the hubctl parser."""
    dna = subparsers.add_parser(
        "dna",
        help="DNA evidence: the allele tables used for likelihood ratios",
        description="Inspect the allele-frequency tables (one per population and kit) that the "
        "matcher chooses from for each DNA profile.",
    )
    actions = dna.add_subparsers(dest="action", required=True, metavar="ACTION")
    tables = actions.add_parser(
        "tables",
        help="list the tables with their kits, labs, loci and sample sizes",
        description="Read and validate the tables (HUB_ALLELE_TABLES, or --allele-table DIR, "
        "else the shipped one) and list each with its loci, the sample size N of each locus "
        "and the NRC II minimum frequency 5/2N that alleles it lacks get.",
    )
    tables.add_argument("--allele-table", type=Path, metavar="DIR", help="table directory")
    tables.add_argument("--theta", type=float, help="θ (F_ST) to show (default 0.01)")
    tables.set_defaults(handler=_tables)


def _tables(args: argparse.Namespace) -> int:
    found = allele_tables(args)
    for table in found.tables:
        default = " (default for profiles no table names)" if table is found.default else ""
        print(f"table {table.name}{default}")
        print(f"  population: {table.population or 'not stated'}")
        kits = ", ".join(table.kits) or "none named"
        print(f"  kits: {kits}; labs: {', '.join(table.labs) or 'none named'}")
        print(f"  θ = {table.theta:g}; {len(table.loci)} loci")
        for locus in table.loci:
            n = table.sample_sizes.get(locus, table.default_sample_size)
            alleles = len(table.frequencies[locus])
            print(
                f"    {table.display(locus):<10} N = {n:>6}  {alleles:>3} alleles  "
                f"unlisted alleles: 5/2N = {table.min_frequency(locus):.5f}"
            )
    return 0
