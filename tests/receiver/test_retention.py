"""Session logs are pruned when a new one starts: past `keep_sessions` or `keep_session_days`,
never the one in use, one a live `listen` records into, nor one written in the last minute; the
sessions directory and logs are private; `events log --all-sessions` lists what is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apimw_cli.commands.common import AppState
from apimw_cli.commands.listen import default_record_path
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.retention import prune, session_logs
from apimw_cli.settings import ENV_KEEP_SESSIONS, sessions_dir
from tests.receiver.support import received
from tests.support.cli import run

NOW = 2_000_000_000.0
DAY = 86400.0


def make_logs(directory: Path, ages_in_days: list[float], now: float = NOW) -> list[Path]:
    """One log per age, named by its index; mtime `age` days before `now`."""
    directory.mkdir(parents=True, exist_ok=True)
    logs = []
    for n, age in enumerate(ages_in_days):
        path = directory / f"log-{n:02d}.jsonl"
        with Recorder(path) as recorder:
            recorder.write_request(received(n))
        stamp = now - age * DAY
        os.utime(path, (stamp, stamp))
        logs.append(path)
    return logs


def names(paths: list[Path]) -> list[str]:
    return sorted(p.name for p in paths)


def test_keeps_the_newest_n(tmp_path: Path) -> None:
    logs = make_logs(tmp_path, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    removed = prune(tmp_path, keep=3, keep_days=0, now=NOW)
    assert names(removed) == names(logs[:7])
    assert names(session_logs(tmp_path)) == names(logs[7:])


def test_keeps_those_newer_than_d_days(tmp_path: Path) -> None:
    logs = make_logs(tmp_path, [40, 31, 29, 1])
    removed = prune(tmp_path, keep=0, keep_days=30, now=NOW)
    assert names(removed) == names(logs[:2])


def test_either_limit_prunes(tmp_path: Path) -> None:
    logs = make_logs(tmp_path, [40, 3, 2, 1])
    removed = prune(tmp_path, keep=2, keep_days=30, now=NOW)
    assert names(removed) == names(logs[:2])  # 40 days old; and third newest


def test_zero_turns_both_limits_off(tmp_path: Path) -> None:
    make_logs(tmp_path, [400, 300, 2, 1])
    assert prune(tmp_path, keep=0, keep_days=0, now=NOW) == []


def test_the_log_in_use_is_spared(tmp_path: Path) -> None:
    logs = make_logs(tmp_path, [50, 1])
    removed = prune(tmp_path, keep=1, keep_days=30, now=NOW, spare=logs[0])
    assert removed == []


def test_a_log_written_in_the_last_minute_is_spared(tmp_path: Path) -> None:
    logs = make_logs(tmp_path, [3, 2, 0.0002, 0.0001])
    removed = prune(tmp_path, keep=1, keep_days=0, now=NOW)
    assert names(removed) == names(logs[:2])  # logs[2] is not the newest but only 17 s old


def test_a_log_a_live_recorder_holds_is_never_pruned(tmp_path: Path) -> None:
    old, newer = make_logs(tmp_path, [90, 1])
    with Recorder(old):  # a listen that has been running for months, say
        os.utime(old, (NOW - 90 * DAY, NOW - 90 * DAY))
        assert prune(tmp_path, keep=1, keep_days=30, now=NOW) == []
        assert old.exists()
    assert prune(tmp_path, keep=1, keep_days=30, now=NOW) == [old]
    assert newer.exists()


def test_a_log_another_process_records_into_is_never_pruned(tmp_path: Path) -> None:
    (old,) = make_logs(tmp_path, [90])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from apimw_cli.receiver.recorder import Recorder; "
            f"r = Recorder({str(old)!r}); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        os.utime(old, (NOW - 90 * DAY, NOW - 90 * DAY))
        assert prune(tmp_path, keep=0, keep_days=30, now=NOW) == []
    finally:
        holder.communicate("")
    assert prune(tmp_path, keep=0, keep_days=30, now=NOW) == [old]


# --- where listen starts a new log ---------------------------------------------------------------


def test_a_new_session_prunes_by_the_profile_setting(isolated_env: Path) -> None:
    assert run("config", "set", "keep_sessions", "2").exit_code == 0
    now = time.time()
    logs = make_logs(sessions_dir(), [5, 4, 3, 2], now=now)
    path = default_record_path(AppState())
    assert path.parent == sessions_dir()
    assert names(session_logs(sessions_dir())) == names(logs[2:])
    with Recorder(path) as recorder:  # the new one is the newest: the next start keeps it
        recorder.write_request(received())
    default_record_path(AppState())
    assert names(session_logs(sessions_dir())) == sorted([logs[3].name, path.name])


def test_the_environment_overrides_the_limit(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = make_logs(sessions_dir(), [5, 4, 3], now=time.time())
    monkeypatch.setenv(ENV_KEEP_SESSIONS, "1")
    default_record_path(AppState())
    assert names(session_logs(sessions_dir())) == [logs[2].name]


def test_defaults_keep_a_hundred_and_thirty_days(isolated_env: Path) -> None:
    now = time.time()
    logs = make_logs(sessions_dir(), [31.0] + [1.0] * 101, now=now)
    default_record_path(AppState())
    kept = session_logs(sessions_dir())
    assert len(kept) == 100
    assert logs[0] not in kept


def test_an_invalid_limit_in_the_profile_is_a_config_error(isolated_env: Path) -> None:
    isolated_env.mkdir()
    (isolated_env / "config.toml").write_text('[profiles.default]\nkeep_sessions = "many"\n')
    from apimw_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="keep_sessions"):
        default_record_path(AppState())


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "²", "99999999999"])
def test_config_set_refuses_a_bad_count(value: str) -> None:
    result = run("config", "set", "keep_sessions", "--", value)
    assert result.exit_code == 2, result.stderr
    assert "whole number" in result.stderr


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_config_set_refuses_bad_days(value: str) -> None:
    result = run("config", "set", "keep_session_days", "--", value)
    assert result.exit_code == 2, result.stderr


# --- modes -----------------------------------------------------------------------------------


def test_the_sessions_dir_is_created_private(isolated_env: Path) -> None:
    path = default_record_path(AppState())
    assert sessions_dir().stat().st_mode & 0o777 == 0o700
    with Recorder(path):
        pass
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_existing_open_sessions_dir_and_log_are_tightened(isolated_env: Path) -> None:
    directory = sessions_dir()
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    old = directory / "old.jsonl"
    old.write_text("")
    old.chmod(0o644)
    default_record_path(AppState())
    assert directory.stat().st_mode & 0o777 == 0o700
    with Recorder(old):
        pass
    assert old.stat().st_mode & 0o777 == 0o600


def test_a_recorder_creates_missing_directories_private(tmp_path: Path) -> None:
    with Recorder(tmp_path / "a" / "b" / "log.jsonl"):
        pass
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700


# --- events log --all-sessions ---------------------------------------------------------------


def test_events_log_all_sessions_lists_what_is_kept(isolated_env: Path) -> None:
    now = time.time()
    logs = make_logs(sessions_dir(), [5, 4, 3], now=now)
    assert run("config", "set", "keep_sessions", "2").exit_code == 0
    default_record_path(AppState())
    result = run("-o", "json", "events", "log", "--all-sessions")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["session"] for row in rows] == [str(logs[1]), str(logs[2])]
    assert [row["id"] for row in rows] == [received(1).record_id, received(2).record_id]
    table = run("events", "log", "--all-sessions")
    assert table.exit_code == 0
    assert "log-01" in table.stdout and "log-00" not in table.stdout


def test_events_log_all_sessions_with_last(isolated_env: Path) -> None:
    make_logs(sessions_dir(), [3, 2, 1], now=time.time())
    rows = json.loads(run("-o", "json", "events", "log", "--all-sessions", "--last", "2").stdout)
    assert [row["id"] for row in rows] == [received(1).record_id, received(2).record_id]


def test_events_log_all_sessions_without_any() -> None:
    result = run("events", "log", "--all-sessions")
    assert result.exit_code == 2
    assert "no recorded session" in result.stderr


def test_events_log_all_sessions_and_a_file_are_exclusive(tmp_path: Path) -> None:
    result = run("events", "log", "--all-sessions", str(tmp_path / "x.jsonl"))
    assert result.exit_code == 2
    assert "not both" in result.stderr


# --- a data dir listen cannot record in ------------------------------------------------------


def test_a_file_where_the_data_dir_belongs_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimw_cli.errors import ConfigError
    from apimw_cli.settings import ENV_DATA_DIR

    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "blocker"))
    with pytest.raises(ConfigError, match="cannot record sessions in") as caught:
        default_record_path(AppState())
    assert "move it aside" in (caught.value.hint or "")


def test_an_unwritable_sessions_dir_is_a_config_error(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimw_cli.errors import ConfigError

    sessions_dir().mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda *_a, **_k: False)  # as root, chmod would not do
    with pytest.raises(ConfigError, match="Permission denied") as caught:
        default_record_path(AppState())
    assert "writable" in (caught.value.hint or "")


def test_listen_without_a_usable_data_dir_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimw_cli.settings import ENV_DATA_DIR

    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "blocker"))
    result = run("listen", "--sandbox", "--port", "0")
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith("error: cannot record sessions in")
    assert "Traceback" not in result.stderr
