"""The HTTP/1.1 framing corpus: one row per way a peer may frame a message differently
(docs/http-framing.md lists each rule beside HAProxy's behaviour).

Each Case is played through a real proxy in front of a RecordingBackend (framing.py):
`send` pieces go to the proxy (`pause` seconds apart, so the second piece of a
"midstream" case arrives after the first one was already forwarded), and the result is
checked against the fields below. Every malformed request carries SMUGGLED after it: the
request a lenient parser would see if it framed the message differently. It must never
reach the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
CHUNKED = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    rule: str  # the rule it proves, as named in docs/http-framing.md
    send: tuple[bytes, ...]
    status: Optional[int]  # first final status the client reads; None: closed without one
    closed: Optional[bool] = None  # the proxy closes the client connection after it
    then: Optional[bytes] = None  # a next request on the same connection ...
    then_status: Optional[int] = None  # ... and its status
    backend_silent: bool = False  # not one byte reaches the backend
    reaches: tuple[bytes, ...] = ()  # bytes the backend must receive
    never: tuple[bytes, ...] = (b"/smuggled",)  # bytes the backend must not receive
    backend_requests: Optional[int] = None  # requests the backend saw complete
    backend_reset: bool = False  # the proxy resets its backend connection
    client_never: tuple[bytes, ...] = ()  # bytes the client must not receive
    responses: tuple[Optional[bytes], ...] = ()  # the backend's answers, in order
    pause: float = 0.3


def refused(name: str, rule: str, message: bytes) -> Case:
    """Refused whole: 400, closed, and the backend gets nothing at all."""
    return Case(name, rule, (message + SMUGGLED,), 400, closed=True, backend_silent=True)


def refused_midstream(name: str, rule: str, good: bytes, bad: bytes,
                      held: bytes = b"") -> Case:
    """A chunked body whose first part (`good`) was forwarded before the malformed part
    arrived: 400, closed, the backend's connection reset; it got `good` (streaming) but
    neither `held` (framing not yet proven) nor anything after it."""
    return Case(name, rule, (CHUNKED + good + held, bad + SMUGGLED), 400, closed=True,
                reaches=(good,), never=(b"/smuggled", *((held,) if held else ())),
                backend_requests=0, backend_reset=True)


def chunked(name: str, rule: str, body: bytes) -> Case:
    return refused(name, rule, CHUNKED + body)


def passes(name: str, rule: str, message: bytes, reaches: tuple[bytes, ...] = (),
           never: tuple[bytes, ...] = (b"/smuggled",), status: int = 200) -> Case:
    """A well-formed request: answered, kept alive, the backend saw exactly one."""
    return Case(name, rule, (message,), status, closed=False, reaches=reaches, never=never,
                backend_requests=1)


def response(name: str, rule: str, answer: bytes, request: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
             status: int = 200, client_never: tuple[bytes, ...] = ()) -> Case:
    """The backend answers `answer`; the next request on the connection must work."""
    return Case(name, rule, (request,), status, closed=False,
                then=b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n", then_status=200,
                client_never=client_never, responses=(answer,), never=())


GET = b"GET / HTTP/1.1\r\nHost: x\r\n"
POST = b"POST / HTTP/1.1\r\nHost: x\r\n"
WS_KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

CASES: list[Case] = [
    # ---- the head: Content-Length and Transfer-Encoding ---------------------------------
    refused("cl_and_te", "one length", POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    refused("differing_cl", "one length", POST + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    refused("repeated_cl", "one length", POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nabcde"),
    refused("cl_list", "one length", POST + b"Content-Length: 5, 5\r\n\r\nabcde"),
    refused("cl_plus", "one length", POST + b"Content-Length: +5\r\n\r\nabcde"),
    refused("cl_negative", "one length", POST + b"Content-Length: -3\r\n\r\nabc"),
    refused("cl_overflow", "one length", POST + b"Content-Length: 99999999999999999999\r\n\r\nabc"),
    refused("te_not_chunked", "chunked last", POST + b"Transfer-Encoding: gzip\r\n\r\nabc"),
    refused("te_chunked_twice", "chunked last", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    refused("te_two_fields", "chunked last", POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    refused("te_xchunked", "chunked last", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    refused("te_vertical_tab", "field syntax", POST + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n"),
    refused("te_http10", "no TE in HTTP/1.0", b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    refused("te_http10_with_cl", "no TE in HTTP/1.0", b"POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    # ---- the head: lines and fields -----------------------------------------------------
    refused("bare_lf", "CRLF lines", b"GET / HTTP/1.1\nHost: x\n\n"),
    refused("bare_cr", "CRLF lines", GET + b"X: a\rb\r\n\r\n"),
    refused("obs_fold", "field syntax", GET + b"X-A: a\r\n b\r\n\r\n"),
    refused("space_before_colon", "field syntax", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
    refused("nul_in_value", "field syntax", GET + b"X: a\x00b\r\n\r\n"),
    refused("double_space_request_line", "request line", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
    refused("lowercase_version", "request line", b"GET / http/1.1\r\nHost: x\r\n\r\n"),
    refused("utf8_target", "request line", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"),
    refused("no_host", "one Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n"),
    refused("two_hosts", "one Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    refused("two_hosts_http10", "one Host", b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
    refused("host_with_space", "one Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
    refused("host_with_userinfo", "one Host", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
    # ---- chunked bodies refused whole ---------------------------------------------------
    chunked("size_lf", "chunk CRLF", b"5\nhello\r\n0\r\n\r\n"),
    chunked("size_cr", "chunk CRLF", b"5\rhello\r\n0\r\n\r\n"),
    chunked("data_lf", "chunk CRLF", b"5\r\nhello\n0\r\n\r\n"),
    chunked("data_cr", "chunk CRLF", b"5\r\nhello\r0\r\n\r\n"),
    chunked("data_no_crlf", "chunk CRLF", b"5\r\nhello0\r\n\r\n"),
    chunked("data_longer_than_size", "chunk CRLF", b"5\r\nhelloXX\r\n0\r\n\r\n"),
    # Loose llhttp took any two bytes after chunk data as its CRLF: "XX" here.
    chunked("data_crlf_replaced", "chunk CRLF", b"5\r\nhelloXX0\r\n\r\n"),
    chunked("last_chunk_lf", "chunk CRLF", b"5\r\nhello\r\n0\n\r\n"),
    chunked("end_lf", "chunk CRLF", b"5\r\nhello\r\n0\r\n\n"),
    chunked("end_cr", "chunk CRLF", b"5\r\nhello\r\n0\r\n\rX"),
    chunked("trailer_lf", "trailers", b"5\r\nhello\r\n0\r\nX-T: 1\n\r\n"),
    chunked("trailer_end_lf", "trailers", b"5\r\nhello\r\n0\r\nX-T: 1\r\n\n"),
    chunked("trailer_bare_cr", "trailers", b"5\r\nhello\r\n0\r\nX-T: 1\r2\r\n\r\n"),
    chunked("trailer_obs_fold", "trailers", b"5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"),
    chunked("trailer_space_before_colon", "trailers", b"5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n"),
    chunked("trailer_content_length", "trailers", b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
    chunked("ext_control_char", "chunk extensions", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"),
    chunked("ext_bare_lf", "chunk extensions", b"5;a=b\nhello\r\n0\r\n\r\n"),
    chunked("ext_bare_cr", "chunk extensions", b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
    chunked("ext_space_before_semicolon", "chunk extensions", b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
    chunked("size_trailing_space", "chunk size", b"5 \r\nhello\r\n0\r\n\r\n"),
    chunked("size_0x", "chunk size", b"0x5\r\nhello\r\n0\r\n\r\n"),
    chunked("size_negative", "chunk size", b"-5\r\nhello\r\n0\r\n\r\n"),
    chunked("size_empty", "chunk size", b"\r\nhello\r\n0\r\n\r\n"),
    chunked("size_2gib", "chunk size", b"80000000\r\nhello\r\n0\r\n\r\n"),
    chunked("size_2_64_minus_1", "chunk size", b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    chunked("size_overflow", "chunk size", b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    # ---- chunked bodies refused after a part was forwarded ------------------------------
    refused_midstream("mid_data_lf", "chunk CRLF", b"5\r\nhello", b"\n0\r\n\r\n"),
    refused_midstream("mid_data_too_long", "chunk CRLF", b"5\r\nhello", b"XX\r\n0\r\n\r\n"),
    refused_midstream("mid_end_lf", "chunk CRLF", b"5\r\nhello", b"\n", held=b"\r\n0\r\n"),
    refused_midstream("mid_trailer_fold", "trailers", b"5\r\nhello", b" 2\r\n\r\n",
                      held=b"\r\n0\r\nX-T: 1\r\n"),
    # ---- well-formed requests pass unchanged --------------------------------------------
    passes("chunked_ext_trailers", "chunk extensions",
           CHUNKED + b"5;q=\"x y\";a=b\r\nhello\r\n0;z\r\nX-T: 1\r\n\r\n",
           reaches=(b"\r\n\r\n5;q=\"x y\";a=b\r\nhello\r\n0;z\r\nX-T: 1\r\n\r\n",)),
    # Valid, but llhttp 8.1 cannot read an extension after a token value: refused (known).
    chunked("ext_token_then_ext", "chunk extensions", b"5;a=b;c=d\r\nhello\r\n0\r\n\r\n"),
    passes("chunked_leading_zeros", "chunk size", CHUNKED + b"0005\r\nhello\r\n000\r\n\r\n",
           reaches=(b"0005\r\nhello\r\n000\r\n\r\n",)),
    Case("chunked_size_2gib_minus_1", "chunk size", (CHUNKED + b"7fffffff\r\nhello",), None,
         closed=False, reaches=(b"7fffffff\r\nhello",), backend_requests=0),
    passes("content_length", "one length", POST + b"Content-Length: 5\r\n\r\nhello",
           reaches=(b"Content-Length: 5\r\n", b"\r\n\r\nhello")),
    passes("http10_without_host", "one Host", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    passes("host_ipv6_port", "one Host", b"GET / HTTP/1.1\r\nHost: [::1]:8082\r\n\r\n",
           reaches=(b"Host: [::1]:8082\r\n",)),
    # ---- Connection options are hop-by-hop ----------------------------------------------
    passes("connection_names_field", "Connection options",
           GET + b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n",
           reaches=(b"X-Kept: 2",), never=(b"X-Secret",)),
    passes("connection_names_xff", "Connection options",
           GET + b"Connection: X-Forwarded-For\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n",
           reaches=(b"X-Forwarded-For: 127.0.0.1\r\n",), never=(b"10.9.9.9",)),
    passes("connection_names_content_length", "Connection options",
           POST + b"Connection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
           reaches=(b"Content-Length: 5\r\n", b"hello")),
    Case("upgrade_with_connection_option", "Connection options",
         (GET + b"Connection: Upgrade, X-Hop\r\nUpgrade: websocket\r\n" + WS_KEY + b"X-Hop: 1\r\n\r\n",), 101,
         closed=False, reaches=(b"Upgrade: websocket\r\n",), never=(b"X-Hop",),
         responses=(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",)),
    # ---- response framing (RFC 9112 §6.3) -----------------------------------------------
    response("resp_204_with_cl", "bodiless responses",
             b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status=204,
             client_never=(b"Content-Length: 5",)),
    response("resp_204_with_te", "bodiless responses",
             b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", status=204,
             client_never=(b"Transfer-Encoding",)),
    response("resp_304_with_cl", "bodiless responses",
             b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", status=304),
    response("resp_304_with_te", "bodiless responses",
             b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", status=304,
             client_never=(b"Transfer-Encoding",)),
    response("resp_100_103_then_200", "interim responses",
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    response("resp_100_with_cl", "interim responses",
             b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    response("resp_head_with_cl", "responses to HEAD",
             b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n",
             request=b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"),
    response("resp_head_chunked", "responses to HEAD",
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
             request=b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"),
    response("upgrade_declined", "declined Upgrade",
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
             request=GET + b"Connection: Upgrade\r\nUpgrade: websocket\r\n" + WS_KEY + b"\r\n"),
    response("resp_connection_names_field", "Connection options",
             b"HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: secret\r\nContent-Length: 2\r\n\r\nok",
             client_never=(b"X-Internal",)),
    Case("resp_te_http10", "no TE in HTTP/1.0", (GET + b"\r\n",), 502, closed=True, never=(),
         responses=(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",)),
    Case("resp_head_bare_lf", "CRLF lines", (GET + b"\r\n",), 502, closed=True, never=(),
         responses=(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",)),
    Case("resp_chunk_data_lf", "chunk CRLF", (GET + b"\r\n",), None, closed=True, never=(),
         client_never=(b"ok\n",),
         responses=(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\n0\r\n\r\n",)),
    Case("resp_1xx_to_http10_client", "interim responses", (b"GET / HTTP/1.0\r\n\r\n",), 200,
         closed=True, never=(), client_never=(b"HTTP/1.1 100",),
         responses=(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",)),
]

assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
