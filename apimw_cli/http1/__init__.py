"""A minimal asyncio HTTP/1.1 client for POSTing events to local apps (layer 0: stdlib plus
httptools or h11). https:// stays with httpx in the callers."""

from apimw_cli.http1.client import Http1Client, sends_to
from apimw_cli.http1.connection import Http1Response
from apimw_cli.http1.errors import ConnectFailed, Http1Error, ProtocolFailed, TimedOut

__all__ = [
    "ConnectFailed",
    "Http1Client",
    "Http1Error",
    "Http1Response",
    "ProtocolFailed",
    "TimedOut",
    "sends_to",
]
