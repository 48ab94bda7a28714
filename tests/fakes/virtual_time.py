"""An asyncio event loop on a virtual clock, for timing tests that a slow machine cannot upset.

``loop.time()`` starts at 0 and moves only when nothing is ready to run: then it jumps
straight to the next timer. Every ``asyncio.sleep``, ``wait_for`` and ``timeout`` therefore
takes exactly its nominal virtual time and no real time, and all work that is ready runs
before any timer fires, whatever the machine's speed or load. ``asyncio.to_thread`` runs the
function inline (a thread would finish at an unknown virtual time).

Only for code without real I/O: with no timer due, the loop waits on its selector as usual,
but a socket that is slow to answer would see virtual time jump past its deadline.

``until(condition)`` polls a condition with a deadline on the running loop's clock (on a
virtual one it takes no real time).

``@virtual_time`` turns an ``async def`` test into a plain one run on such a loop (fixtures
such as ``caplog`` still work); inside it, ``asyncio.get_running_loop().time`` is the clock
to inject into the code under test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import selectors
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["InlineExecutor", "VirtualTimeLoop", "until", "virtual_time"]


class InlineExecutor(concurrent.futures.Executor):
    """Runs each submitted call at once in the caller's thread; the future is already done."""

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, like a real executor
            future.set_exception(exc)
        return future


class _JumpingSelector(selectors.DefaultSelector):
    """Polls instead of sleeping: a wait for the next timer becomes a jump of the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.jump: Callable[[float], None] = lambda _s: None

    def select(self, timeout: float | None = None):
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only I/O or another thread can wake the loop
            return super().select(None)
        self.jump(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual (see the module docstring)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        self._virtual_now = 0.0
        selector.jump = self._advance
        self._inline = InlineExecutor()

    def time(self) -> float:
        return self._virtual_now

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def run_in_executor(self, executor, func, *args):
        # The default executor (asyncio.to_thread) runs inline; a test's own one is used.
        return super().run_in_executor(executor or self._inline, func, *args)


def virtual_time(test: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Decorator: run the ``async def`` test on a fresh ``VirtualTimeLoop``."""

    @functools.wraps(test, updated=())
    def run(*args, **kwargs):
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            return runner.run(test(*args, **kwargs))

    # A plain function to pytest and pytest-asyncio, with the test's own fixture arguments.
    del run.__wrapped__
    run.__signature__ = inspect.signature(test)
    return run


async def until(condition: Callable[[], object], *, timeout_s: float = 10.0, step_s: float = 0.01):
    """Return once ``condition()`` is true; ``AssertionError`` after ``timeout_s`` (loop time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"condition not met within {timeout_s:g} s"
        await asyncio.sleep(step_s)
