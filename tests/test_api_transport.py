"""api/transport.py: no TLS context for an http:// API, certificates still verified for https://,
and httpx imported without its command-line client."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.api.client import ApiClient
from apimw_cli.api.transport import PlainHTTPTransport, transport_for
from apimw_cli.errors import NetworkError
from tests.support.capture import CaptureServer, Reply

# A self-signed certificate for 127.0.0.1 and localhost (valid until 2126), and its key.
SELF_SIGNED = Path(__file__).parent / "support" / "tls" / "localhost.pem"
ROOT = Path(__file__).resolve().parent.parent


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"success": true, "data": {"webhooks": []}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietHTTPSServer(HTTPServer):
    requests_served = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client refusing our certificate is the point

    def process_request(self, request: Any, client_address: Any) -> None:
        self.requests_served += 1
        super().process_request(request, client_address)


@pytest.fixture
def self_signed_server() -> Iterator[_QuietHTTPSServer]:
    """An HTTPS server on 127.0.0.1 whose certificate no CA signed."""
    server = _QuietHTTPSServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(SELF_SIGNED)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _url(server: HTTPServer) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def ssl_contexts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SSLContexts instantiated during the test."""
    made: list[str] = []
    original = ssl.SSLContext.__new__

    def counting(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(cls.__name__)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", counting)
    return made


def test_an_https_api_with_a_self_signed_certificate_is_refused(
    self_signed_server: _QuietHTTPSServer,
) -> None:
    with (
        ApiClient(_url(self_signed_server), max_retries=0, sleep=lambda _s: None) as client,
        pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.request("GET", "webhooks", auth=False)


def test_the_self_signed_server_answers_a_client_that_trusts_it(
    self_signed_server: _QuietHTTPSServer,
) -> None:
    """The refusal above is the certificate's, not a broken server."""
    trusting = ssl.create_default_context(cafile=str(SELF_SIGNED))
    response = httpx.get(f"{_url(self_signed_server)}/webhooks", verify=trusting)
    assert response.status_code == 200


def test_an_https_link_given_by_a_plain_http_api_is_verified_too(
    self_signed_server: _QuietHTTPSServer,
) -> None:
    """An absolute `next` link to https:// goes through httpx's verifying transport."""
    with (
        ApiClient("http://127.0.0.1:9/v1", max_retries=0, sleep=lambda _s: None) as client,
        pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.request("GET", f"{_url(self_signed_server)}/webhooks", auth=False)


def test_a_plain_http_api_is_served_without_any_tls_context(ssl_contexts: list[str]) -> None:
    page = b'{"success": true, "data": {"webhooks": []}}'
    with CaptureServer(Reply(200, page, content_type="application/json")) as server:
        with ApiClient(f"{server.base_url}/v1") as client:
            response = client.request("GET", "webhooks", auth=False)
        assert response.data == {"webhooks": []}
    assert ssl_contexts == []


def test_an_https_api_gets_httpx_default_transport_with_its_tls_context(
    ssl_contexts: list[str],
) -> None:
    assert transport_for("https://api.apimw.com/v1") is None
    with ApiClient("https://api.apimw.com/v1"):
        pass
    assert ssl_contexts != []  # built (and verifying) as httpx always does


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/v1", "HTTP://localhost/v1"])
def test_plain_http_urls_get_the_plain_transport(url: str) -> None:
    transport = transport_for(url)
    assert isinstance(transport, PlainHTTPTransport)
    transport.close()


def test_a_transport_given_by_a_test_is_used_as_is() -> None:
    given = httpx.MockTransport(
        lambda _request: httpx.Response(200, json={"success": True, "data": 1})
    )
    with ApiClient("http://127.0.0.1:9/v1", transport=given) as client:
        assert client.request("GET", "x", auth=False).data == 1


_IMPORT_PROBE = """
import sys
import apimw_cli.api.transport
import httpx
assert "httpx._main" not in sys.modules, "httpx imported its CLI"
assert "pygments" not in sys.modules and "rich.progress" not in sys.modules
assert sys.modules.get("httpx._main", "gone") == "gone"  # no None left behind
import httpx._main  # still importable on purpose
print("ok")
"""


def test_httpx_is_imported_without_its_command_line_client() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_api_package_imports_httpx_only_when_a_client_is_made() -> None:
    probe = (
        "import sys\n"
        "import apimw_cli.api.auth, apimw_cli.api.webhooks, apimw_cli.api.messages\n"
        "import apimw_cli.api.pagination, apimw_cli.api.retry, apimw_cli.api.error_map\n"
        "assert 'httpx' not in sys.modules, 'httpx imported with the api package'\n"
        "assert 'tenacity' not in sys.modules, 'tenacity imported before any retry'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
