"""apimw: the command-line companion for APIMW webhooks."""

__version__ = "0.1.0"
