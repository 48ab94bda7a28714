"""A real local HTTP server speaking OpenAI's streaming chat-completions protocol.

``POST /v1/chat/completions`` with ``stream: true`` answers with SSE chunks
(``data: {json}\\n\\n``, ``choices[0].delta.content``), a final chunk carrying
``finish_reason`` and ``data: [DONE]``. The body uses chunked transfer encoding so a
connection dropped mid-stream is visible to the client as an incomplete body.

Knobs: the reply (text, or a callable from the request's messages to text),
``first_token_delay_s``, ``tokens_per_s`` (None: no pacing), a ``failure`` mode and
``fail_times`` (fail only the first N requests, then behave; None fails every
request). Failure modes: ``http_500``; ``stall`` (headers and the role chunk, then
nothing until the server stops); after ``fail_after_chunks`` content chunks:
``drop_mid_stream`` (socket closed), ``malformed_chunk`` (invalid JSON, then the
rest), ``end_early`` (body ends cleanly with no finish_reason and no [DONE]). Knobs are
plain attributes and may be changed while the server runs. Received request bodies
are recorded in ``requests``.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Failure = Literal["http_500", "drop_mid_stream", "malformed_chunk", "stall", "end_early"]
Script = str | Callable[[list[dict[str, Any]]], str]


def split_tokens(text: str) -> list[str]:
    """Word-sized pieces with their leading whitespace; ``"".join`` gives ``text`` back."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    return tokens + [tail] if tail else tokens


class FakeOpenAIServer:
    """``with FakeOpenAIServer(script="Hi there.") as srv: srv.base_url`` (ends in /v1)."""

    def __init__(
        self,
        script: Script = "Hello from the fake model.",
        *,
        first_token_delay_s: float = 0.0,
        tokens_per_s: float | None = None,
        failure: Failure | None = None,
        fail_after_chunks: int = 2,
        fail_times: int | None = None,
        model: str = "fake-model",
    ) -> None:
        if first_token_delay_s < 0:
            raise ValueError(f"first_token_delay_s must be >= 0, got {first_token_delay_s}")
        if tokens_per_s is not None and tokens_per_s <= 0:
            raise ValueError(f"tokens_per_s must be > 0 or None, got {tokens_per_s}")
        if fail_after_chunks < 0:
            raise ValueError(f"fail_after_chunks must be >= 0, got {fail_after_chunks}")
        self.script = script
        self.first_token_delay_s = first_token_delay_s
        self.tokens_per_s = tokens_per_s
        self.failure = failure
        self.fail_after_chunks = fail_after_chunks
        self.fail_times = fail_times
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.completed_streams = 0  # streams sent in full, counted as [DONE] is sent
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def received_messages(self) -> list[list[dict[str, Any]]]:
        """The ``messages`` of every request so far, oldest first."""
        with self._lock:
            return [r.get("messages", []) for r in self.requests]

    def start(self) -> FakeOpenAIServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes stalled and paced handlers so they end promptly
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admit(self, body: dict[str, Any]) -> tuple[Failure | None, str]:
        """Record the request; decide its failure mode and reply text."""
        with self._lock:
            self.requests.append(body)
            failure = self.failure
            if failure is not None and self.fail_times is not None:
                if self.fail_times > 0:
                    self.fail_times -= 1
                else:
                    failure = None
        script = self.script
        reply = script(body.get("messages", [])) if callable(script) else script
        return failure, reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) drops simultaneous connects; a dropped SYN is
    # retried only after a second, which would look like a slow model.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up (a cancelled stream, a closed keep-alive) is normal here;
        # anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked encoding, like real endpoints
    fake: FakeOpenAIServer

    def setup(self) -> None:
        super().setup()
        # Each SSE chunk is a small write; without this Nagle's algorithm delays them.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON body"}})
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        failure, reply = self.fake._admit(body)
        if failure == "http_500":
            self._send_json(500, {"error": {"message": "fake server error", "type": "server"}})
            return
        try:
            if body.get("stream"):
                self._stream(reply, failure)
            else:
                self._send_json(200, self._completion(reply))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (cancelled): nothing to do

    def _stream(self, reply: str, failure: Failure | None) -> None:
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._event({"role": "assistant", "content": ""})
        if failure == "stall":
            fake._stopping.wait()  # never a first token; ends when the server stops
            self.close_connection = True
            return
        if fake._stopping.wait(fake.first_token_delay_s):
            return
        interval = 1.0 / fake.tokens_per_s if fake.tokens_per_s else 0.0
        next_at = time.monotonic()
        for sent, token in enumerate(split_tokens(reply)):
            if sent == fake.fail_after_chunks and failure == "drop_mid_stream":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk
                return
            if sent == fake.fail_after_chunks and failure == "end_early":
                self._write_chunk(b"")  # a well-formed end, without finish_reason or [DONE]
                return
            if sent == fake.fail_after_chunks and failure == "malformed_chunk":
                self._write_chunk(b'data: {"choices": [{"delta": {"content": "oops"\n\n')
            if sent and interval:
                next_at += interval  # a fixed schedule, so pacing does not drift
                if fake._stopping.wait(max(0.0, next_at - time.monotonic())):
                    return
            self._event({"content": token})
        self._event({}, finish_reason="stop")
        # Counted before [DONE] goes out: a client that has read [DONE] must find it counted
        # (counting after the write raced the client, which may return and assert first).
        with fake._lock:
            fake.completed_streams += 1
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # terminating zero-length chunk

    def _event(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.fake.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _completion(self, reply: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply}
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.fake.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
