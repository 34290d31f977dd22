"""The names of every environment variable apimw reads (spelled here and nowhere else), and the
fixed values settings fall back to."""

from __future__ import annotations

from typing import Literal

ENV_PROFILE = "APIMW_PROFILE"
ENV_CONFIG_DIR = "APIMW_CONFIG_DIR"
ENV_DATA_DIR = "APIMW_DATA_DIR"
ENV_API_BASE = "APIMW_API_BASE"
ENV_OUTPUT = "APIMW_OUTPUT"
ENV_TIMEOUT = "APIMW_TIMEOUT"
ENV_EVENTS = "APIMW_EVENTS"
ENV_TOKEN = "APIMW_TOKEN"
ENV_API_KEY = "APIMW_API_KEY"
ENV_API_SECRET = "APIMW_API_SECRET"
ENV_SANDBOX_URL = "APIMW_SANDBOX_URL"
ENV_SANDBOX_API_KEY = "APIMW_SANDBOX_API_KEY"
ENV_SANDBOX_API_SECRET = "APIMW_SANDBOX_API_SECRET"
ENV_NGROK_AUTHTOKEN = "NGROK_AUTHTOKEN"  # the ngrok agent's own name for it
ENV_NGROK_PATH = "APIMW_NGROK_PATH"
ENV_NGROK_REGION = "APIMW_NGROK_REGION"
ENV_KEEP_SESSIONS = "APIMW_KEEP_SESSIONS"
ENV_KEEP_SESSION_DAYS = "APIMW_KEEP_SESSION_DAYS"
ENV_NO_COLOR = "NO_COLOR"  # https://no-color.org

DEFAULT_PROFILE = "default"
DEFAULT_API_BASE = "https://api.apimw.com/v1"
DEFAULT_TIMEOUT = 30.0  # seconds
CONFIG_FILE_NAME = "config.toml"
# `listen` prunes older session logs past either limit (0 turns a limit off).
DEFAULT_KEEP_SESSIONS = 100
DEFAULT_KEEP_SESSION_DAYS = 30.0

# The sandbox's fixed, documented credentials: shaped like real ones, useless anywhere else.
SANDBOX_API_BASE = "http://127.0.0.1:8787/v1"
SANDBOX_API_KEY = "ak_test_sandbox_4f7c2a9e1b3d5f60"
SANDBOX_API_SECRET = "sk_test_sandbox_8e1d4b7a2c9f3e6051d8a7b4"

OutputFormat = Literal["table", "json"]
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json")

# The regions the ngrok agent accepts for --region (its points of presence).
NGROK_REGIONS: tuple[str, ...] = ("us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in")
