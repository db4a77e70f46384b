"""The benchmark command runs: SQLite and the ORM broker, sections 1 and 2, small.

It proves that ``python -m tests.bench.webhooks_bench`` works end to end (its own
receiver, database and qcluster) and prints the receiver's ceiling, the drain row
and issue 19's targets; it asserts no speed.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.cluster

COMMAND = [
    sys.executable,
    "-m",
    "tests.bench.webhooks_bench",
    "--quick",
    "--db",
    "sqlite",
    "--broker",
    "orm",
    "--sections",
    "1,2",
    "--deliveries",
    "200",
]


def table_rows(output: str, section: int) -> list[dict[str, str]]:
    """A section's table as {column title: cell} rows (cells are separated by two or more spaces)."""
    lines = output.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith(f"== {section}. "))
    header = re.split(r"\s{2,}", lines[title + 2].strip())  # title, (description), header
    rows = []
    for line in lines[title + 3 :]:
        if not line.strip() or line.startswith(("==", "  note:")):
            break
        rows.append(dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)))
    return rows


def test_bench_command_runs_and_prints_the_drain_row():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(COMMAND, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    output = result.stdout
    assert result.returncode == 0, result.stderr[-3000:] + output
    assert output.startswith("machine: "), output
    (row,) = table_rows(output, 2)
    assert (row["db"], row["broker"], row["deliveries"], row["received"]) == ("sqlite", "orm", "200", "200")
    assert float(row["deliveries/s"].replace(",", "")) > 0, output
    # The receiver's ceiling beside every loop and ratio; no ratio when the loop came near it.
    loops = table_rows(output, 1)
    assert len(loops) == 2 and all(float(r["receiver ceiling req/s"].replace(",", "")) > 0 for r in loops), (
        output
    )
    assert row["ceiling req/s"] == loops[-1]["receiver ceiling req/s"], output
    if float(loops[-1]["loop/ceiling"]) > 1 / 3:
        assert row["ratio"] == "-" and "more than a third of the receiver's ceiling" in output, output
    else:
        assert float(row["ratio"]) > 0, output
    assert "== Targets (issue 19) ==" in output and "drain, orm broker" in output, output
