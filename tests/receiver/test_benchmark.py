"""benchmarks/receiver.py still runs: each phase starts its servers, every answer is 200, and the
report has the issue's rows. How fast is measured and printed by the benchmark, never asserted
here. The scripts run as users run them (`python benchmarks/receiver.py --quick ...`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "receiver.py"

pytestmark = pytest.mark.slow  # each run starts several servers: 3-10 s


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        cwd="/",  # the script finds its package wherever it is run from
    )
    assert done.returncode == 0, done.stdout + done.stderr
    no_failures = re.compile(r"non-200 answers and socket errors[ |]+0[ |]*$", re.M)
    assert no_failures.search(done.stdout), done.stdout
    assert "note: listen" not in done.stdout, done.stdout  # no traceback in listen's stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_throughput_rounds_of_a_bare_app_and_listen_ndjson_report_the_ratio() -> None:
    out = run("--python-client", "--phases", "throughput", "--contenders", "bare-h11,ndjson")
    assert "the client limits the figures" in out, out
    assert "round 2/2: " in out, out
    for row in (
        "bare starlette app, uvicorn h11 + asyncio: req/s",
        "bare starlette app, uvicorn h11 + asyncio: CPU per request",
        "`apimw listen --format ndjson`: req/s",
        "`apimw listen --format ndjson`: CPU per request",
    ):
        assert row in out, out
    ratio = next(line for line in out.splitlines() if "ndjson / bare h11 (req/s)" in line)
    assert "x (" in ratio and "target >= 2.0x (" in ratio, ratio
    assert "machine: " in out and "command: python benchmarks/receiver.py --quick" in out, out


@pytest.mark.timeout(120)
def test_the_live_view_on_a_pty_shows_every_label_and_its_lag_is_reported() -> None:
    out = run("--python-client", "--phases", "lag")
    lag = next(line for line in out.splitlines() if "live view display lag at 2,000/s" in line)
    assert "p50 " in lag and "p99 " in lag and "(500/500 shown)" in lag, lag


@pytest.mark.timeout(120)
def test_forwarding_reports_both_rates_and_the_rss_behind_a_stopped_sink() -> None:
    out = run("--python-client", "--phases", "forward", "--drain-timeout", "2")
    for row in (
        "forwarding: received (req/s)",
        "forwarding: forwarded during the burst (/s)",
        "forward rate / receive rate",
        "listen RSS, sink stopped, ",
    ):
        assert row in out, out


@pytest.mark.timeout(120)
def test_a_reference_tree_runs_its_own_listen_beside_this_ones() -> None:
    """This tree stands in for an older one (the option's use: a worktree of dfcc62d)."""
    out = run(
        "--python-client", "--phases", "throughput,lag", "--contenders", "ndjson",
        "--reference-tree", str(BENCHMARK.parents[1]),
    )  # fmt: skip
    for row in (
        "reference tree: `apimw listen --format ndjson`: req/s",
        "ndjson / reference tree's ndjson (CPU per request)",
        "reference tree: live view display lag at 2,000/s",
    ):
        assert row in out, out


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_hmac_server_takes_its_round() -> None:
    out = run("--python-client", "--phases", "throughput", "--contenders", "node")
    assert "Node `http` server verifying the HMAC: req/s" in out, out


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (CI needs none)")
def test_wrk_drives_the_rounds_when_installed() -> None:
    out = run("--phases", "throughput", "--contenders", "bare-fast", "--markdown")
    assert "load: wrk (1 thread, 4 connections)" in out, out
    assert "| bare starlette app, uvicorn httptools + uvloop: req/s | " in out, out


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (CI needs none)")
def test_the_inspector_pair_also_runs_paced_with_wrk() -> None:
    """wrk's per-connection delay paces a burst: the inspector pair's cost at the same rate."""
    out = run(
        "--phases", "throughput", "--contenders", "inspected,no-inspect", "--sse-viewer",
        "--inspector-pace", "2000",
    )  # fmt: skip
    for name in ("inspector page open in a browser", "--no-inspect`"):
        rate = re.search(rf"{re.escape(name)}, paced: req/s +([0-9,]+) ", out)
        assert rate is not None, out
        assert 300 < int(rate.group(1).replace(",", "")) < 3000, out  # about the pace: 4 x 1/2 ms
    assert "at the same paced rate, by CPU per request (theirs / its)" in out, out


def test_wrk_paces_with_a_delay_of_whole_milliseconds(tmp_path: Path) -> None:
    from benchmarks.load import WRK_SCRIPT, Driver

    driver = Driver([b"x"], tmp_path, connections=16, use_wrk=False)
    assert [driver.pause_ms(r) for r in (6000, 16000, 100000, 1000)] == [3, 1, 1, 16]
    assert "function delay()" in WRK_SCRIPT and "APIMW_BENCH_DELAY_MS" in WRK_SCRIPT


def test_a_missing_node_is_a_row_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import receiver, servers

    monkeypatch.setattr(servers, "node_missing", lambda: "node not found on PATH")
    results = receiver.Results()
    with receiver.contenders(Path("/nonexistent"), None, results, {"node"}) as started:
        assert started == {}
    rows = receiver.rows(results, receiver.options(["--quick"]))
    assert any("skipped: node not found on PATH" in row.figure for row in rows)


@pytest.mark.timeout(120)
def test_the_paired_phase_loads_two_servers_at_once_and_reports_their_ratio() -> None:
    out = run("--python-client", "--phases", "paired", "--pair", "bare-h11,ndjson")
    assert "paired 2/2: bare-h11 " in out and " ndjson " in out, out
    for row in (
        "bare starlette app, uvicorn h11 + asyncio, both loaded at once on one core: CPU per",
        "`apimw listen --format ndjson`, both loaded at once on one core: CPU per request",
    ):
        assert row in out, out
    ratio = next(line for line in out.splitlines() if "ndjson / bare-h11, both loaded" in line)
    assert re.search(r"\d\.\d\dx \(\d\.\d\d-\d\.\d\d\)", ratio), ratio
    assert "round 1/" not in out, out  # the throughput phase was not asked for


@pytest.mark.parametrize(
    ("pair", "error"),
    [
        ("ndjson", "--pair takes two different servers"),
        ("ndjson,ndjson", "--pair takes two different servers"),
        ("ndjson,nginx", "--pair takes two different servers"),
        ("ndjson-ref,ndjson", "needs --reference-tree"),
    ],
)
def test_a_wrong_pair_is_a_usage_error(pair: str, error: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--phases", "paired", "--pair", pair],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and error in done.stderr, done.stderr


@pytest.mark.timeout(120)
def test_no_record_runs_only_when_named_and_reports_what_the_log_costs() -> None:
    out = run("--python-client", "--phases", "throughput", "--contenders", "ndjson,no-record")
    assert "`apimw listen --format ndjson --no-record`: CPU per request" in out, out
    row = next(line for line in out.splitlines() if "what the session log costs" in line)
    assert re.search(r"\d\.\d\dx \(", row), row
    from benchmarks import receiver

    assert "no-record" not in receiver.options([]).contenders.split(",")
