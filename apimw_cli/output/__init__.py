"""Everything the user sees. rich is used here only, and imported lazily (fast `--help`)."""

from apimw_cli.output.masking import mask, mask_url, redact, remember
from apimw_cli.output.printer import Printer

__all__ = ["Printer", "mask", "mask_url", "redact", "remember"]
