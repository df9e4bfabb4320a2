"""The event contract is domain code: importing it pulls in no Kafka, Faust or psycopg."""

from __future__ import annotations

import subprocess
import sys

CONTRACT_MODULES = [
    "hub.avro", "hub.envelope", "hub.evolution", "hub.identity", "hub.keys", "hub.registry",
    "hub.schema_catalog", "hub.signing", "hub.verify",
]
FORBIDDEN = ["kafka", "faust", "aiokafka", "psycopg"]


def test_contract_imports_no_adapters() -> None:
    """A fresh interpreter importing every contract module has loaded none of the adapters."""
    script = (
        "import sys\n"
        f"for name in {CONTRACT_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
