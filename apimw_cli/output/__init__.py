"""Everything the user sees. rich is used here only, and imported lazily (fast `--help`)."""

from apimw_cli.output.masking import mask
from apimw_cli.output.printer import Printer

__all__ = ["Printer", "mask"]
