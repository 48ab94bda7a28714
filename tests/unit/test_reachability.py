"""HostProbe: real name lookups and TCP connections on loopback, a fake clock for the interval."""

from __future__ import annotations

import asyncio
import socket

import pytest

from actors.engines.tts.reachability import HostProbe
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.unit


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def listener():
    """A loopback TCP server counting the connections it accepts."""
    accepted: list[int] = []

    async def on_connect(reader, writer):
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, accepted, server
    server.close()
    await server.wait_closed()


async def test_a_listening_host_is_reachable(listener):
    port, accepted, _ = listener
    probe = HostProbe("127.0.0.1", port)
    assert await probe.reachable() and probe.last_error is None
    await asyncio.sleep(0)
    assert accepted == [1]


async def test_a_refused_port_is_unreachable_and_says_why(closed_port):
    probe = HostProbe("127.0.0.1", closed_port)
    assert not await probe.reachable()
    assert probe.last_error.startswith("ConnectionRefusedError")


async def test_a_name_that_never_resolves_is_unreachable():
    # .invalid never resolves (RFC 6761), on any machine, online or not.
    probe = HostProbe("speech.example.invalid", 443, timeout_s=5.0)
    assert not await probe.reachable()
    assert "gaierror" in probe.last_error


async def test_the_answer_is_kept_for_the_interval_then_checked_again(listener):
    port, accepted, server = listener
    clock = FakeClock()
    probe = HostProbe("127.0.0.1", port, interval_s=60.0, clock=clock)
    assert await probe.reachable()
    server.close()
    await server.wait_closed()
    clock.now += 59.0
    assert await probe.reachable()  # cached: no second connection
    assert len(accepted) == 1
    clock.now += 1.0
    assert not await probe.reachable()  # checked again: the server is gone


async def test_concurrent_callers_share_one_probe(listener):
    port, accepted, _ = listener
    probe = HostProbe("127.0.0.1", port)
    answers = await asyncio.gather(*(probe.reachable() for _ in range(5)))
    await asyncio.sleep(0)
    assert answers == [True] * 5 and len(accepted) == 1


async def test_interval_zero_never_probes(closed_port):
    assert await HostProbe("127.0.0.1", closed_port, interval_s=0).reachable()


def test_for_url_takes_host_and_default_port():
    probe = HostProbe.for_url("wss://speech.platform.bing.com/consumer/speech?x=1")
    assert (probe.host, probe.port) == ("speech.platform.bing.com", 443)
    assert HostProbe.for_url("http://127.0.0.1:3128").port == 3128
    assert HostProbe.for_url("http://proxy.local").port == 80


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        HostProbe("", 443)
    with pytest.raises(ValueError):
        HostProbe("h", 0)
    with pytest.raises(ValueError):
        HostProbe("h", 443, timeout_s=0)
