"""The defensive HTTP client, against real servers on loopback."""

from __future__ import annotations

import time

import pytest
import requests
from werkzeug.wrappers import Response

from transforms._http import (
    BlockedAddress,
    BodyTooLarge,
    FetchConfig,
    FetchTimeout,
    HttpError,
    TooManyRedirects,
    UnsupportedScheme,
    check_target,
    http_get,
    is_public_address,
)

OPEN = FetchConfig(timeout=2.0, max_bytes=10_000, allow_private_hosts=True)


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
     "fc00::1", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1", "100.64.0.1", "240.0.0.1"],
)
def test_non_public_addresses_are_refused_by_the_classifier(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass_the_classifier(address):
    # Classified only: nothing connects to these.
    assert is_public_address(address)


def test_guard_on_refuses_a_loopback_server(httpserver):
    httpserver.expect_request("/a").respond_with_data("<html>hi</html>")
    with pytest.raises(BlockedAddress):
        check_target(httpserver.url_for("/a"), allow_private_hosts=False)
    with pytest.raises(BlockedAddress):
        http_get(httpserver.url_for("/a"), OPEN._replace(allow_private_hosts=False), requests.Session())
    assert httpserver.log == []  # refused before connecting


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)"])
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(UnsupportedScheme):
        check_target(url, allow_private_hosts=True)


def test_sends_newsbeam_user_agent_and_returns_body(httpserver, session):
    httpserver.expect_request("/page", headers={"User-Agent": OPEN.user_agent}).respond_with_data(
        "<html>ok</html>", content_type="text/html; charset=utf-8")
    resp = http_get(httpserver.url_for("/page"), OPEN, session)
    assert (resp.status, resp.body) == (200, b"<html>ok</html>")
    assert "newsbeam" in OPEN.user_agent


def test_http_errors_carry_the_status(httpserver, session):
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    with pytest.raises(HttpError) as info:
        http_get(httpserver.url_for("/gone"), OPEN, session)
    assert info.value.status == 404


def test_body_cap_is_enforced_while_streaming(httpserver, session):
    def endless(_request):
        def chunks():
            for _ in range(100):
                yield b"x" * 1000
        return Response(chunks(), content_type="text/html")  # chunked: no Content-Length

    httpserver.expect_request("/big").respond_with_handler(endless)
    with pytest.raises(BodyTooLarge):
        http_get(httpserver.url_for("/big"), OPEN, session)


def test_declared_oversize_is_refused_before_reading(httpserver, session):
    httpserver.expect_request("/big").respond_with_data(b"y" * 20_000, content_type="text/html")
    with pytest.raises(BodyTooLarge, match="Content-Length"):
        http_get(httpserver.url_for("/big"), OPEN, session)


def test_a_dripping_server_is_cut_off_by_the_total_deadline(httpserver, session):
    def drip(_request):
        def chunks():
            for _ in range(50):
                time.sleep(0.2)
                yield b"<p>.</p>"
        return Response(chunks(), content_type="text/html")

    httpserver.expect_request("/drip").respond_with_handler(drip)
    cfg = OPEN._replace(timeout=1.0)
    with pytest.raises(FetchTimeout):
        http_get(httpserver.url_for("/drip"), cfg, session)


def test_redirects_are_followed_and_loops_detected(httpserver, session):
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data("<html>new</html>", content_type="text/html")
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    assert http_get(httpserver.url_for("/old"), OPEN, session).final_url == httpserver.url_for("/new")
    with pytest.raises(TooManyRedirects):
        http_get(httpserver.url_for("/a"), OPEN, session)


def test_redirect_targets_are_checked_by_the_guard(httpserver, session):
    httpserver.expect_request("/hop").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(UnsupportedScheme):
        http_get(httpserver.url_for("/hop"), OPEN, session)


def test_connected_address_is_checked_even_when_the_name_check_is_skipped(httpserver):
    """DNS rebinding: a name that resolved to a public address at check time but connects
    to a private one is caught at connect time, before any byte of the request is sent."""
    from transforms._http import make_session

    httpserver.expect_request("/a").respond_with_data("<html>hi</html>")
    guarded = make_session(FetchConfig(allow_private_hosts=False))
    with pytest.raises(BlockedAddress, match="connected to non-public address 127.0.0.1"):
        guarded.get(httpserver.url_for("/a"), timeout=2)  # no check_target on this path
    assert httpserver.log == []
    open_session = make_session(FetchConfig(allow_private_hosts=True))
    assert open_session.get(httpserver.url_for("/a"), timeout=2).status_code == 200


@pytest.fixture
def header_dripper():
    """A loopback server that sends a status line, then one header byte every 0.2 s."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                    for _ in range(100):
                        if stop.is_set():
                            break
                        conn.sendall(b"a")
                        time.sleep(0.2)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/slow-headers"
    stop.set()
    server.close()


def test_a_server_dripping_headers_is_cut_off_by_the_total_deadline(header_dripper):
    from transforms._http import make_session

    cfg = OPEN._replace(timeout=1.0)
    with make_session(cfg) as session:
        # Each byte arrives well inside the 1 s read timeout: only the total deadline ends it.
        with pytest.raises(FetchTimeout, match="headers"):
            http_get(header_dripper, cfg, session)
