"""``build_app(args)``: the Serve application named in serve_config.yaml's import_path."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import sys
import time
from pathlib import Path

import ray
from pydantic import ValidationError
from ray.serve import Application
from ray.serve.exceptions import RayServeException

from config import Settings
from config.settings_errors import SettingsError
from serve_app.deployments.asr import ASRDeployment
from serve_app.deployments.avatar import avatar_deployment
from serve_app.deployments.ingress import Ingress
from serve_app.deployments.tts import TTSDeployment

log = logging.getLogger("avatar_chat.app")

# How long Ray takes to copy a worker's stderr line to the driver's output (it polls).
_LOG_STREAM_GRACE_S = 1.0


class InvalidSettingsError(SettingsError, RayServeException):
    """Invalid ``args``: one line naming the field and what it allows.

    A ``RayServeException`` because Serve's build task treats those as final: it reports
    ``str()`` as the application's status message (no traceback) and does not retry a
    build that can only fail again.
    """


def build_app(args: dict | None = None) -> Application:
    """Validate ``args`` (settings overrides) plus the environment, then bind the deployments.

    Invalid settings raise ``InvalidSettingsError`` (one line, e.g. ``invalid setting
    avatar.size: ... (allowed: 256 <= size <= 512; got 100)``). When this runs as Serve's
    build task under a ``serve run`` that started this Ray, that command is also stopped
    with the line (see ``_stop_owning_serve_run``), since ``serve run CONFIG`` would
    otherwise wait forever with nothing deployed. The API key is left out of the
    deployment arguments (which Serve stores and shows): each actor reads it from its own
    environment.
    """
    try:
        settings = Settings.load(args or {})
    except ValidationError as exc:
        error = InvalidSettingsError.from_validation_error(exc, model=Settings)
        _stop_owning_serve_run(f"avatar-chat: {error}")
        raise error from None  # the one line is the whole story; pydantic's dump is noise
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    log.info(
        "avatar-chat: llm=%s tts=%s avatar=%s",
        settings.llm.label,
        settings.tts.engine,
        settings.avatar.kind,
    )
    tts = TTSDeployment.bind(data)
    avatar = avatar_deployment(settings)  # every avatar by name; with LipSync for Wav2Lip packs
    asr = ASRDeployment.bind(data) if settings.vad.enabled else None
    return Ingress.bind(data, tts, avatar, asr)


def _stop_owning_serve_run(line: str) -> None:
    """Print ``line`` on the stderr of the ``serve run`` that started this Ray, then end it.

    Ray 2.60's ``serve run CONFIG`` deploys the file and sleeps until Ctrl-C: it never
    looks at the application's status, so a build that fails leaves it running with ``/``
    answering 404. On SIGTERM Ray's driver exits with status 15 and shuts down the local
    Ray it started. This acts only in a Ray worker whose ancestor is such a command (its
    raylet's parent): a cluster started otherwise (``ray start``, ``serve deploy``, a
    test's ``serve.run``) is left alone, and the error is only raised and shown by
    ``serve status``. Linux only (it reads /proc); elsewhere a no-op.
    """
    pid = _serve_run_ancestor()
    if pid is None:
        return
    _tell(pid, line)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)


def _tell(pid: int, line: str) -> None:
    """Put ``line`` in process ``pid``'s output, before what Ray prints as it stops.

    A terminal or pipe on its stderr is written to directly. A regular file is not (the
    line would land at the file's end, where the command's next write, at its own offset,
    overwrites it): the line goes to this worker's stderr, which Ray copies to the
    command's output within about a second.
    """
    if not _write_unless_file(f"/proc/{pid}/fd/2", f"{line}\n"):
        print(line, file=sys.stderr, flush=True)
        time.sleep(_LOG_STREAM_GRACE_S)


def _write_unless_file(path: str, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return False
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        os.write(fd, text.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _serve_run_ancestor() -> int | None:
    """The pid of the nearest ancestor running ``serve run`` (never this process itself)."""
    if not ray.is_initialized():  # not a Ray worker: e.g. ``serve run module:app`` itself
        return None
    pid = os.getppid()
    for _ in range(8):  # worker -> raylet -> serve run; the bound only stops odd loops
        if pid <= 1:
            return None
        proc = Path("/proc", str(pid))
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "stat").read_bytes()
        except OSError:
            return None
        if _is_serve_run(argv):
            return pid
        pid = int(status.rsplit(b")", 1)[1].split()[1])  # ppid: field 4, after "(comm)"
    return None


def _is_serve_run(argv: list[bytes]) -> bool:
    """``[python] .../serve run ...``: the Serve CLI's ``run`` command."""
    return any(
        os.path.basename(arg) == b"serve" and argv[i + 1 : i + 2] == [b"run"]
        for i, arg in enumerate(argv)
    )
