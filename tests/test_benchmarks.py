"""The benchmark scripts' building blocks (benchmarks/common.py, load.py, servers.Drain) and smoke
runs of benchmarks/startup.py and sandbox_delivery.py. Nothing here asserts a speed: the scripts
measure, CONTRIBUTING.md's rule."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimw_cli.output.live import short_id
from apimw_cli.signing import verify
from benchmarks import servers
from benchmarks.common import Row, Spread, percentile, print_table, ratio_row
from benchmarks.load import LABEL, SECRET, Connection, signed_requests
from benchmarks.servers import Drain

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def split(request: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}, body


def test_signed_requests_are_distinct_valid_and_all_of_one_size() -> None:
    requests = signed_requests(300)
    assert len({len(r) for r in requests}) == 1
    ids = set()
    for request in requests:
        headers, body = split(request)
        assert int(headers["content-length"]) == len(body) == 1024
        assert verify(body, headers["x-apimw-signature"], SECRET).valid
        ids.add(headers["x-apimw-delivery"])
    assert len(ids) == 300


def test_the_live_views_label_of_each_event_names_its_number() -> None:
    """The lag phase matches `[dlv_xxxxxxxx]` on the pty back to the event that was sent."""
    for number, request in enumerate(signed_requests(3, first=0x40000000 - 1), 0x40000000 - 1):
        label = short_id(split(request)[0]["x-apimw-delivery"])
        match = LABEL.search(f" [{label}]".encode())
        assert match is not None and int(match.group(1), 16) == number


def test_the_drain_finds_labels_split_across_reads_and_counts_lines() -> None:
    read, write = os.pipe()
    drain = Drain(read)
    drain.watching = True
    drain.start()
    parts = (b"\x1b[2m[dlv_0000", b"00ff]\x1b[0m\nnext [dlv_00000100]\n", b"\xff\xfe[dlv_zz]\n")
    for part in parts:
        os.write(write, part)
        threading.Event().wait(0.02)  # separate reads (a deadline-free pause, not an assert)
    os.close(write)
    drain.join(5)
    os.close(read)
    assert set(drain.seen) == {0xFF, 0x100}
    assert drain.lines == 3


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1))
def test_a_spread_brackets_its_median(samples: list[float]) -> None:
    spread = Spread.of(samples)
    assert spread.low <= spread.median <= spread.high
    assert spread.count == len(samples)


def test_nan_samples_are_left_out_and_none_reads_n_a() -> None:
    assert Spread.of([float("nan"), 2.0]).show() == "2"
    assert Spread.of([float("nan")]).show() == "n/a"
    assert Spread.of([1.0, 3.0, 2.0]).show(1, " ms") == "2.0 ms (1.0-3.0)"
    assert percentile([], 0.99) != percentile([], 0.99)  # NaN


def test_ratio_rows_say_whether_the_median_meets_the_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    met = ratio_row("a / b", [2.1, 1.9, 2.4], ">= 2.0x", lambda r: r >= 2.0)
    missed = ratio_row("c / d", [0.5], ">= 0.8x", lambda r: r >= 0.8)
    assert (met.figure, met.target) == ("2.10x (1.90-2.40)", ">= 2.0x (met)")
    assert missed.target == ">= 0.8x (missed)"
    print_table("t", [met, missed, Row("plain", "1")], markdown=True)
    out = capsys.readouterr().out
    assert "| a / b | 2.10x (1.90-2.40) | >= 2.0x (met) |" in out
    assert "| plain | 1 |  |" in out


def script(name: str, *args: str, timeout: float = 100) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_startup_benchmark_reports_every_command_against_import_typer() -> None:
    out = script("startup.py", "--quick", "--markdown")
    for row in (
        "| import typer | ",
        "| apimw --help / import typer | ",
        "| apimw webhooks --help / import typer | ",
        "| apimw --sandbox webhooks list / import typer, cached token, running sandbox | ",
    ):
        assert row in out, out
    for target in ("<= 1.2x (", "<= 1.3x (", "<= 2.5x ("):
        assert target in out, out


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_the_startup_benchmark_can_leave_the_sandbox_out_and_time_a_reference_tree() -> None:
    """This tree stands in for an older one: the reference rows appear beside this tree's."""
    out = script("startup.py", "--quick", "--no-sandbox", "--reference-tree", str(ROOT))
    assert "apimw webhooks --help (reference tree) / import typer" in out, out
    assert "apimw --version (reference tree)" not in out, out  # no target, no reference run
    assert re.search(r"apimw --sandbox webhooks list +skipped \(--no-sandbox\)", out), out
    assert "apimw --help / import typer" in out, out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_sandbox_benchmark_reports_rate_latency_the_ceiling_and_a_reference() -> None:
    out = script(
        "sandbox_delivery.py", "--quick", "--python-client", "--webhooks", "4",
        "--reference-tree", str(ROOT),
    )  # fmt: skip
    assert f"reference ({ROOT}): deliveries/s " in out, out
    assert "this tree / reference (deliveries/s)" in out, out
    for row in (
        "this tree: deliveries/s ",
        "this tree: slowest API request during the burst ",
        "one fast receiver, direct client (req/s: the ceiling)",
    ):
        assert row in out, out
    assert re.search(r"this tree: duplicates, API errors +0, 0$", out, re.M), out
    assert ">= 3,000/s (" in out and "< 100 ms (" in out, out


def test_results_takes_each_table_from_its_bold_title() -> None:
    from benchmarks.results import table_of

    output = "load: wrk\nround 1/6: ...\n\n**receiver: 6 rounds**\n\n| a | b |\n- machine: x\n"
    assert table_of(output) == "**receiver: 6 rounds**\n\n| a | b |\n- machine: x"
    assert table_of("no table\n") == ""


def test_results_rewrites_only_the_marked_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import results

    calls: list[tuple[str, list[str]]] = []

    def fake_run(script: str, extra: list[str]) -> str:
        calls.append((script, extra))
        return f"**{script}**"

    monkeypatch.setattr(results, "run", fake_run)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results -->\nold figures\n<!-- /results -->\nafter\n")
    assert results.main(["--output", str(readme), "--reference-tree", "/tmp/ref"]) == 0
    assert readme.read_text() == (
        "intro\n<!-- results -->\n**receiver.py**\n\n**sandbox_delivery.py**\n\n"
        "**startup.py**\n<!-- /results -->\nafter\n"
    )
    assert calls[0] == ("receiver.py", ["--reference-tree", "/tmp/ref"])


def answers(port: int, requests: list[bytes]) -> list[int]:
    async def go() -> list[int]:
        conn = await Connection.open(port)
        try:
            return [await conn.exchange(request) for request in requests]
        finally:
            conn.close()

    return asyncio.run(go())


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.timeout(30)
def test_the_node_server_accepts_signed_events_and_refuses_forged_ones() -> None:
    good = signed_requests(2)
    forged = signed_requests(1, secret="whsec_someone_else")
    tampered = good[1].replace(b"Benchmark", b"Benchmarx")  # same length, same signature
    with servers.node(None) as node:
        assert answers(node.port, [good[0], forged[0], tampered, good[1]]) == [200, 401, 401, 200]


@pytest.mark.timeout(30)
def test_the_fast_sink_counts_what_it_got_over_keep_alive() -> None:
    with servers.sink(None) as sink:
        assert answers(sink.port, signed_requests(5)) == [200] * 5
        assert servers.sink_deliveries(sink.port) == 5


def _no_browser() -> str | None:
    from tests.browser.conftest import why_no_browser

    return why_no_browser()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("viewer", ["browser", "sse"])
def test_the_inspector_rounds_set_a_watched_listen_beside_no_inspect(viewer: str) -> None:
    """receiver.py's inspector contenders: listen with its page open in a browser (or an SSE
    client) and listen --no-inspect, in the same rounds, and their ratio against its target."""
    if viewer == "browser" and (reason := _no_browser()):
        pytest.skip(reason)
    out = script(
        "receiver.py", "--quick", "--python-client", "--phases", "throughput",
        "--contenders", "inspected,no-inspect", *(["--sse-viewer"] if viewer == "sse" else []),
        timeout=110,
    )  # fmt: skip
    for row in (
        "`apimw listen --format ndjson`, inspector page open in a browser: req/s",
        "`apimw listen --format ndjson`, inspector page open in a browser: CPU per request",
        "`apimw listen --format ndjson --no-inspect`: req/s",
    ):
        assert row in out, out
    ratio = next(line for line in out.splitlines() if "/ --no-inspect, closed loop (req/s)" in line)
    assert "x (" in ratio and ">= 0.95x (" in ratio, ratio
    watched = next(line for line in out.splitlines() if "the inspector's viewer" in line)
    assert ("browser: headless" if viewer == "browser" else "sse: asked for") in watched, out
    saw = re.search(r"inspector viewer: SAW (\d+) stream events", out)
    assert saw is not None and int(saw.group(1)) > 0, out  # it did watch events arrive
    assert re.search(r"non-200 answers and socket errors +0$", out, re.M), out


@pytest.mark.parametrize("path", ["receiver", "ndjson", "live"])
@pytest.mark.timeout(120)
def test_each_instruction_counted_path_runs(path: str) -> None:
    """What instructions.py has callgrind count, run natively: every event is handled."""
    assert script("instructions.py", "--child", path, "30", "2100") == ""


def test_the_instruction_count_says_so_without_valgrind(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "instructions.py"), "--quick"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PATH": str(tmp_path)},  # no valgrind on it
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "skipped: valgrind not found" in done.stdout


def test_the_instruction_count_refuses_an_unknown_path() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "instructions.py"), "--paths", "receiver,nope"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown path(s): nope" in done.stderr
