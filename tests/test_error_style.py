"""One error style for every failure: `error:` then `hint:`, no Click `Error:`/`Usage:` block, no
traceback, and the documented exit code (2 usage, 3 configuration: profile and environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run


def assert_styled(stderr: str) -> list[str]:
    """Exactly one `error:` line and a `hint:` line; nothing of Click's or Python's own."""
    lines = stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == [lines[0]], stderr
    assert any(line.startswith("hint:") for line in lines), stderr
    assert "Usage:" not in stderr and "Error:" not in stderr, stderr
    assert "Traceback" not in stderr and "Value error" not in stderr, stderr
    return lines


@pytest.fixture(autouse=True)
def _empty_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIMW_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("APIMW_OUTPUT", "APIMW_TIMEOUT", "APIMW_PROFILE", "APIMW_KEEP_SESSIONS"):
        monkeypatch.delenv(name, raising=False)


def test_unknown_option_names_it_and_points_at_the_command_help() -> None:
    result = run("webhooks", "list", "--bogus")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: no such option: --bogus"
    assert lines[1] == "hint: see 'apimw webhooks list --help'"


def test_unknown_option_keeps_clicks_suggestion_in_the_hint() -> None:
    result = run("--outptu", "json", "config", "show")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: no such option: --outptu"
    assert lines[1] == "hint: did you mean --output? see 'apimw --help'"


def test_unknown_command_suggests_the_closest() -> None:
    result = run("webhok")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: no such command 'webhok'"
    assert lines[1] == "hint: did you mean 'webhooks'? see 'apimw --help'"


def test_unknown_subcommand_suggests_within_its_group() -> None:
    result = run("webhooks", "lst")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: no such command 'lst'"
    assert lines[1] == "hint: did you mean 'list'? see 'apimw webhooks --help'"


def test_missing_argument_is_a_usage_error() -> None:
    result = run("config", "set")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: missing argument 'NAME'"
    assert lines[1] == "hint: see 'apimw config set --help'"


def test_option_without_its_value() -> None:
    result = run("-o")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: option '-o' requires an argument"


def test_bad_value_of_a_callback_checked_option() -> None:
    result = run("--api-base", "ftp://example.com", "config", "show")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert "--api-base" in lines[0] and "http(s) URL" in lines[0]


def test_unknown_output_format_lists_the_formats() -> None:
    result = run("-o", "yaml", "config", "show")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: --output 'yaml' is not a format: use table or json"
    assert lines[1] == "hint: see 'apimw --help'"


def test_misspelt_output_format_says_which_was_meant() -> None:
    result = run("-o", "jsn", "config", "show")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[1] == "hint: did you mean 'json'? see 'apimw --help'"


def test_unknown_config_key_says_which_was_meant() -> None:
    result = run("config", "set", "outptu", "json")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: unknown setting 'outptu': did you mean 'output'?"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APIMW_OUTPUT", "xml"),
        ("APIMW_TIMEOUT", "soon"),
        ("APIMW_KEEP_SESSIONS", "-1"),
        ("APIMW_KEEP_SESSION_DAYS", "many"),
        ("APIMW_NGROK_REGION", "mars"),
    ],
)
def test_invalid_environment_value_is_an_error_naming_the_variable(
    variable: str, value: str
) -> None:
    # `sign` reads none of these: the value is checked anyway, never ignored or replaced.
    result = run(
        "sign", "--secret-env", "SECRET", input="body", env={variable: value, "SECRET": "s"}
    )
    assert result.exit_code == 3
    lines = assert_styled(result.stderr)
    assert lines[0].startswith(f"error: {variable}: ")
    assert result.stdout == ""


def test_output_from_the_environment_suggests_the_closest_format() -> None:
    result = run("whoami", env={"APIMW_OUTPUT": "jsno"})
    assert result.exit_code == 3
    lines = assert_styled(result.stderr)
    assert (
        lines[0] == "error: APIMW_OUTPUT: output must be one of table, json, got 'jsno': "
        "did you mean 'json'?"
    )
    assert lines[1] == "hint: set APIMW_OUTPUT to a valid value, or unset it"


def test_a_flag_overrides_a_bad_environment_value() -> None:
    env = {"APIMW_OUTPUT": "xml", "SECRET": "s3cret"}
    result = run("-o", "json", "sign", "--secret-env", "SECRET", input="body", env=env)
    assert result.exit_code == 0, result.stderr


def test_config_show_marks_a_bad_environment_value_instead_of_failing() -> None:
    result = run("config", "show", env={"APIMW_OUTPUT": "xml"})
    assert result.exit_code == 0, result.stderr
    assert "APIMW_OUTPUT" in result.stdout


def test_unknown_profile_is_reported_with_the_existing_ones() -> None:
    assert run("-p", "staging", "config", "set", "output", "json").exit_code == 0
    result = run("-p", "stagng", "whoami")
    assert result.exit_code == 3
    lines = assert_styled(result.stderr)
    assert (
        lines[0] == "error: profile 'stagng' (flag --profile) does not exist: "
        "did you mean 'staging'?"
    )
    assert "'staging'" in lines[1] and "`apimw -p stagng login` creates it" in lines[1]


def test_unknown_profile_from_the_environment_names_the_variable() -> None:
    result = run("whoami", env={"APIMW_PROFILE": "nosuch"})
    assert result.exit_code == 3
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: profile 'nosuch' (env APIMW_PROFILE) does not exist"
    assert "none yet" in lines[1]


def test_invalid_profile_name_from_the_environment_is_a_configuration_error() -> None:
    result = run("whoami", env={"APIMW_PROFILE": "bad name"})
    assert result.exit_code == 3
    assert_styled(result.stderr)


def test_invalid_profile_name_as_a_flag_is_a_usage_error() -> None:
    result = run("-p", "bad name", "whoami")
    assert result.exit_code == 2
    assert_styled(result.stderr)


def test_output_format_edited_into_the_profile_is_an_error_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir(mode=0o700)
    config = tmp_path / "config" / "config.toml"
    config.write_text('[profiles.default]\noutput = "yaml"\n', encoding="utf-8")
    config.chmod(0o600)
    result = run("sign", "--secret-env", "SECRET", input="body", env={"SECRET": "s"})
    assert result.exit_code == 3
    lines = assert_styled(result.stderr)
    assert lines[0].startswith("error: output in profile 'default'")
    assert lines[0].endswith("must be table or json, got 'yaml'")
    assert lines[1] == "hint: `apimw config set output table` fixes it"
    fixed = run("config", "set", "output", "table")
    assert fixed.exit_code == 0, fixed.stderr


def test_bad_choice_for_an_argument_names_the_choices() -> None:
    result = run("completion", "zhs")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[0] == "error: 'zhs' is not a shell: use bash, zsh or fish"
    assert lines[1] == "hint: did you mean 'zsh'? see 'apimw completion --help'"


def test_bad_choice_far_from_every_choice_suggests_none() -> None:
    result = run("completion", "tcsh")
    assert result.exit_code == 2
    lines = assert_styled(result.stderr)
    assert lines[1] == "hint: see 'apimw completion --help'"
