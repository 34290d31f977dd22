"""benchmarks/receiver.py still runs: both servers start, every answer is 200, the report has
its figures. How fast is measured and printed by the benchmark, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "receiver.py"


def test_the_receiver_benchmark_runs_and_reports_every_target() -> None:
    tiny = ["--events", "300", "--throughput-events", "100", "--rounds", "2", "--warmup", "20"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), *tiny, "--rate", "100", "--rate-seconds", "0.3"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "non-200 answers: 0;" in out, out
    assert "paired rounds, receiver/bare: " in out, out
    for target in ("throughput >= 80% of the bare app", "p99 < 10 ms", "RSS < 150 MB"):
        assert target in out, out
