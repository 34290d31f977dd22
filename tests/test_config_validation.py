"""Every setting's validator (declared with it in settings/schema.py), as `apimw config set` and the
environment use them: what they accept, what they refuse, and the "did you mean" for a typo in
a value or in a setting's name; and `default_event_patterns`, what `listen` subscribes to
without --events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.errors import ConfigError, UsageError
from apimw_cli.main import OutputChoice
from apimw_cli.settings import (
    ENV_EVENTS,
    ENV_TIMEOUT,
    NGROK_REGIONS,
    SETTINGS,
    Setting,
    Settings,
    boolean,
    default_event_patterns,
    lookup,
    parse_value,
)
from tests.support.cli import run


def refused(name: str, raw: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse_value(lookup(name), raw)
    return caught.value


# --------------------------------------------------------------------------- each validator


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("api_base", "https://api.apimw.com/v1", "https://api.apimw.com/v1"),
        ("api_base", "http://127.0.0.1:8787/v1", "http://127.0.0.1:8787/v1"),
        ("api_base", "http://[::1]:8787", "http://[::1]:8787"),
        ("output", "json", "json"),
        ("output", "TABLE", "table"),  # the CLI's --output ignores case too
        ("timeout", "30", 30.0),
        ("timeout", "0.5", 0.5),
        ("default_events", "message.received", ["message.received"]),
        ("default_events", " message.sent , message.* ,all", ["message.sent", "message.*", "all"]),
        ("ngrok_region", "eu", "eu"),
        ("ngrok_region", "US-CAL-1", "us-cal-1"),
        ("ngrok_path", "/opt/ngrok bin/ngrok", "/opt/ngrok bin/ngrok"),
        ("ngrok_authtoken", "2abc_DEF", "2abc_DEF"),
    ],
)
def test_a_valid_value_is_accepted(name: str, raw: str, value: Any) -> None:
    assert parse_value(lookup(name), raw) == value


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("api_base", "ftp://api.apimw.com", "api_base must be an http(s) URL with a host"),
        ("api_base", "https://", "got 'https://'"),
        ("api_base", "http://host:0/v1", "must be an http(s) URL"),
        ("api_base", "http://host:port/v1", "must be an http(s) URL"),
        ("api_base", "https://api.apimw .com", "must be an http(s) URL"),
        ("api_base", "https://api.apimw.com/\x1b[2J", "must be an http(s) URL"),
        ("output", "yaml", "output must be one of table, json, got 'yaml'"),
        ("timeout", "soon", "timeout must be a duration above 0, got 'soon'"),
        ("timeout", "0", "timeout must be a duration above 0"),
        ("timeout", "-5", "timeout must be a duration above 0"),
        ("timeout", "nan", "timeout must be a duration above 0"),
        ("timeout", "inf", "timeout must be a duration above 0"),
        ("default_events", "message.nope", "unknown event type 'message.nope'"),
        ("default_events", "foo.*", "unknown event type 'foo.*'"),
        ("default_events", " , ", "default_events needs at least one event type"),
        ("ngrok_region", "mars", "ngrok_region must be one of us, us-cal-1, eu"),
        ("ngrok_path", "  ", "ngrok_path cannot be empty"),
        ("ngrok_path", "/opt/ngrok\n", "ngrok_path cannot contain control characters"),
    ],
)
def test_an_invalid_value_is_refused_saying_why(name: str, raw: str, says: str) -> None:
    assert says in refused(name, raw).message


@pytest.mark.parametrize(
    ("name", "raw", "meant"),
    [
        ("default_events", "message.recieved", "message.received"),
        ("default_events", "message.sent,mesage.read", "message.read"),
        ("output", "jsn", "json"),
        ("output", "tabel", "table"),
        ("ngrok_region", "euu", "eu"),
        ("api_base", "api.apimw.com/v1", "https://api.apimw.com/v1"),
        ("api_base", "htps://api.apimw.com/v1", "https://api.apimw.com/v1"),
        ("api_base", "htp://localhost:3000", "http://localhost:3000"),
        ("api_base", " https://api.apimw.com/v1", "https://api.apimw.com/v1"),
    ],
)
def test_a_typo_in_a_value_gets_a_did_you_mean(name: str, raw: str, meant: str) -> None:
    assert refused(name, raw).message.endswith(f": did you mean {meant!r}?")


def test_a_value_far_from_any_valid_one_gets_no_guess() -> None:
    for name, raw in (("output", "zzz"), ("default_events", "zzz"), ("timeout", "soon")):
        assert "did you mean" not in refused(name, raw).message


def test_an_unknown_event_type_points_at_the_catalog() -> None:
    hint = refused("default_events", "nope").hint
    assert hint is not None and "apimw events list" in hint


BOOL = Setting("colours", "a yes/no setting", parse=boolean)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        *[("true", True), ("Yes", True), ("on", True), ("1", True)],
        *[("false", False), ("NO", False), ("off", False), ("0", False)],
    ],
)
def test_a_boolean_setting_reads_the_usual_words(raw: str, value: bool) -> None:
    assert parse_value(BOOL, raw) is value


def test_a_boolean_setting_refuses_other_words_with_a_guess() -> None:
    with pytest.raises(UsageError) as caught:
        parse_value(BOOL, "ture")
    assert caught.value.message == "colours must be true or false, got 'ture': did you mean 'true'?"


def test_every_settable_setting_refuses_an_empty_value() -> None:
    for setting in SETTINGS:
        if setting.settable:
            with pytest.raises(UsageError):
                parse_value(setting, "")


def test_the_output_setting_offers_what_the_output_option_accepts() -> None:
    assert set(lookup("output").choices) == {choice.value for choice in OutputChoice}


def test_ngrok_regions_are_a_choice() -> None:
    assert lookup("ngrok_region").choices == NGROK_REGIONS


# --------------------------------------------------------------------------- `config set`


def test_config_set_refuses_an_unknown_event_type_with_a_did_you_mean(isolated_env: Path) -> None:
    result = run("config", "set", "default_events", "message.sent,message.recieved")

    assert result.exit_code == 2
    assert "unknown event type 'message.recieved': did you mean 'message.received'?" in (
        result.stderr
    )
    assert not (isolated_env / "config.toml").exists()  # nothing written


def test_config_set_keeps_event_globs_as_written() -> None:
    assert run("config", "set", "default_events", "message.*, quota.warning").exit_code == 0
    assert run("config", "get", "default_events").stdout.strip() == "message.*,quota.warning"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("output", "yml"), "output must be one of table, json, got 'yml'"),
        (("timeout", "0"), "timeout must be a duration above 0, got '0'"),
        (("api_base", "localhost:8787/v1"), "did you mean 'https://localhost:8787/v1'?"),
        (("ngrok_region", "europe"), "ngrok_region must be one of"),
    ],
)
def test_config_set_validates_the_value(args: tuple[str, str], says: str) -> None:
    result = run("config", "set", *args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert "Traceback" not in result.output


def test_config_set_stores_a_choice_in_its_canonical_case() -> None:
    assert run("config", "set", "output", "JSON").exit_code == 0
    # output is json now, so `config get` answers in JSON
    assert json.loads(run("config", "get", "output").stdout)["value"] == "json"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("outptu", "output"), ("api-base", "api_base"), ("default_event", "default_events")],
)
def test_an_unknown_setting_name_gets_a_did_you_mean(typo: str, meant: str) -> None:
    for command in (("set", typo, "x"), ("get", typo), ("unset", typo)):
        result = run("config", *command)
        assert result.exit_code == 2
        assert f"unknown setting {typo!r}: did you mean {meant!r}?" in result.stderr
        assert "known settings: api_base" in result.stderr


def test_an_unknown_setting_far_from_any_gets_the_list_only() -> None:
    result = run("config", "set", "zzzz", "x")
    assert result.exit_code == 2
    assert "unknown setting 'zzzz'\n" in result.stderr
    assert "known settings:" in result.stderr


# --------------------------------------------------------------------------- the environment


def test_an_invalid_env_value_is_a_config_error_naming_the_variable() -> None:
    result = run("config", "get", "default_events", env={ENV_EVENTS: "message.recieved"})

    assert result.exit_code == 3
    assert f"{ENV_EVENTS}: " in result.stderr
    assert "did you mean 'message.received'?" in result.stderr


def test_config_show_marks_the_invalid_env_value_and_shows_the_rest() -> None:
    result = run("-o", "json", "config", "show", env={ENV_TIMEOUT: "soon"})
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["timeout"]["source"] == (
        f"error: {ENV_TIMEOUT}: timeout must be a duration above 0, got 'soon'"
    )
    assert rows["output"]["source"] == "flag --output"


# --------------------------------------------------------------------------- default events


def test_default_event_patterns_is_empty_when_unset() -> None:
    assert default_event_patterns(Settings(env={})) == []


def test_default_event_patterns_from_the_environment() -> None:
    settings = Settings(env={ENV_EVENTS: "message.*, quota.exceeded"})
    assert default_event_patterns(settings) == ["message.*", "quota.exceeded"]


def test_default_event_patterns_refuses_an_invalid_env_value_naming_the_variable() -> None:
    settings = Settings(env={ENV_EVENTS: "message.sent,mesage.read"})
    with pytest.raises(ConfigError) as caught:
        default_event_patterns(settings)
    assert caught.value.message.startswith(f"{ENV_EVENTS}: ")
    assert "unknown event type 'mesage.read': did you mean 'message.read'?" in (
        caught.value.message
    )


def test_default_event_patterns_from_the_profile() -> None:
    assert run("config", "set", "default_events", "message.received,all").exit_code == 0
    assert default_event_patterns(Settings()) == ["message.received", "all"]


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        ('["message.recieved"]', "did you mean 'message.received'?"),
        ('"message.read, nope"', "unknown event type 'nope'"),
        ("5", "default_events in profile 'default'"),
        ('["message.read", 5]', "must be a list of event types"),
    ],
)
def test_default_event_patterns_refuses_a_hand_edited_profile_naming_it(
    isolated_env: Path, stored: str, says: str
) -> None:
    isolated_env.mkdir()
    (isolated_env / "config.toml").write_text(f"[profiles.default]\ndefault_events = {stored}\n")
    with pytest.raises(ConfigError) as caught:
        default_event_patterns(Settings())
    assert says in caught.value.message
    assert "profile 'default'" in caught.value.message


def test_an_edited_profile_value_that_is_text_is_read_as_a_list(isolated_env: Path) -> None:
    isolated_env.mkdir()
    (isolated_env / "config.toml").write_text(
        '[profiles.default]\ndefault_events = "message.read, quota.*"\n'
    )
    assert default_event_patterns(Settings()) == ["message.read", "quota.*"]


@pytest.mark.parametrize(("raw", "seconds"), [("30", 30.0), ("30s", 30.0), ("2m", 120.0)])
def test_a_timeout_is_a_duration_wherever_it_comes_from(raw: str, seconds: float) -> None:
    """One meaning for a time: `--timeout 30s`, APIMW_TIMEOUT=30s and `config set timeout 30s`."""
    shown = run("-o", "json", "config", "show", env={ENV_TIMEOUT: raw})
    rows = {row["name"]: row for row in json.loads(shown.stdout)["settings"]}
    assert rows["timeout"]["value"] == seconds, rows["timeout"]
    assert run("config", "set", "timeout", raw).exit_code == 0
    assert float(run("config", "get", "timeout").stdout) == seconds


@pytest.mark.parametrize("args", [("--help",), ("webhooks", "--help"), ("webhooks", "list", "-h")])
def test_help_works_whatever_the_environment_holds(args: tuple[str, ...]) -> None:
    result = run(*args, env={ENV_TIMEOUT: "abc"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert run("webhooks", "list", env={ENV_TIMEOUT: "abc"}).exit_code == 3  # not help: refused
