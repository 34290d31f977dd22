"""apimw's settings: flag > environment > profile > default, with provenance.

names.py spells every environment variable (nowhere else does) and the fixed defaults;
schema.py declares the settings and checks their values; files.py keeps the config file
(private, atomic writes under a lock), tokens.py the token cache; resolve.py decides each
value for one invocation.
Import from here: `from apimw_cli.settings import Settings, ENV_TOKEN`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names (environment variables, defaults) are imported at once: `apimw --help` shows them.
from apimw_cli.settings.names import (
    CONFIG_FILE_NAME,
    DEFAULT_API_BASE,
    DEFAULT_KEEP_SESSION_DAYS,
    DEFAULT_KEEP_SESSIONS,
    DEFAULT_PROFILE,
    DEFAULT_TIMEOUT,
    ENV_API_BASE,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_CONFIG_DIR,
    ENV_DATA_DIR,
    ENV_EVENTS,
    ENV_KEEP_SESSION_DAYS,
    ENV_KEEP_SESSIONS,
    ENV_NGROK_AUTHTOKEN,
    ENV_NGROK_PATH,
    ENV_NGROK_REGION,
    ENV_NO_COLOR,
    ENV_OUTPUT,
    ENV_PROFILE,
    ENV_SANDBOX_API_KEY,
    ENV_SANDBOX_API_SECRET,
    ENV_SANDBOX_URL,
    ENV_TIMEOUT,
    ENV_TOKEN,
    NGROK_REGIONS,
    OUTPUT_FORMATS,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
    OutputFormat,
)

# The rest (files, tokens, resolving, the schema) on first use: help needs none of it.
if TYPE_CHECKING:
    from apimw_cli.settings.files import (
        ConfigFile,
        config_dir,
        data_dir,
        file_fault,
        make_private_dir,
        sessions_dir,
        write_private_file,
    )
    from apimw_cli.settings.resolve import (
        Credentials,
        Settings,
        Value,
        default_event_patterns,
        session_retention,
    )
    from apimw_cli.settings.schema import (
        SETTINGS,
        SETTINGS_BY_NAME,
        Parser,
        Setting,
        boolean,
        choice,
        closest,
        did_you_mean,
        event_patterns,
        http_url,
        is_http_url,
        lookup,
        non_negative_number,
        parse_value,
        text,
        whole_number,
    )
    from apimw_cli.settings.tokens import (
        TokenCacheError,
        TokenStore,
    )

_LAZY: dict[str, str] = {
    "ConfigFile": "files",
    "config_dir": "files",
    "data_dir": "files",
    "file_fault": "files",
    "make_private_dir": "files",
    "sessions_dir": "files",
    "write_private_file": "files",
    "Credentials": "resolve",
    "Settings": "resolve",
    "Value": "resolve",
    "default_event_patterns": "resolve",
    "session_retention": "resolve",
    "SETTINGS": "schema",
    "SETTINGS_BY_NAME": "schema",
    "Parser": "schema",
    "Setting": "schema",
    "boolean": "schema",
    "choice": "schema",
    "closest": "schema",
    "did_you_mean": "schema",
    "event_patterns": "schema",
    "http_url": "schema",
    "is_http_url": "schema",
    "lookup": "schema",
    "non_negative_number": "schema",
    "parse_value": "schema",
    "text": "schema",
    "whole_number": "schema",
    "TokenCacheError": "tokens",
    "TokenStore": "tokens",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once
    return value


__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_API_BASE",
    "DEFAULT_KEEP_SESSIONS",
    "DEFAULT_KEEP_SESSION_DAYS",
    "DEFAULT_PROFILE",
    "DEFAULT_TIMEOUT",
    "ENV_API_BASE",
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "ENV_CONFIG_DIR",
    "ENV_DATA_DIR",
    "ENV_EVENTS",
    "ENV_KEEP_SESSIONS",
    "ENV_KEEP_SESSION_DAYS",
    "ENV_NGROK_AUTHTOKEN",
    "ENV_NGROK_PATH",
    "ENV_NGROK_REGION",
    "ENV_NO_COLOR",
    "ENV_OUTPUT",
    "ENV_PROFILE",
    "ENV_SANDBOX_API_KEY",
    "ENV_SANDBOX_API_SECRET",
    "ENV_SANDBOX_URL",
    "ENV_TIMEOUT",
    "ENV_TOKEN",
    "NGROK_REGIONS",
    "OUTPUT_FORMATS",
    "SANDBOX_API_BASE",
    "SANDBOX_API_KEY",
    "SANDBOX_API_SECRET",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "ConfigFile",
    "Credentials",
    "OutputFormat",
    "Parser",
    "Setting",
    "Settings",
    "TokenCacheError",
    "TokenStore",
    "Value",
    "boolean",
    "choice",
    "closest",
    "config_dir",
    "data_dir",
    "default_event_patterns",
    "did_you_mean",
    "event_patterns",
    "file_fault",
    "http_url",
    "is_http_url",
    "lookup",
    "make_private_dir",
    "non_negative_number",
    "parse_value",
    "session_retention",
    "sessions_dir",
    "text",
    "whole_number",
    "write_private_file",
]
