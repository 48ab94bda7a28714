"""``avatar-chat avatar ...`` and ``avatar-chat models ...``: asset commands of the CLI.

``add_asset_commands`` adds both command groups to the top-level parser;
``run_asset_command`` runs the chosen one and returns the exit code. What each command
does is in ``actors.cli.asset_commands``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from actors.cli.asset_commands import EXIT_BAD_INPUT, EXIT_FAILED, HANDLERS, fail

ASSET_COMMANDS = ("avatar", "models")


def add_asset_commands(subparsers) -> None:
    """Add the ``avatar`` and ``models`` command groups to ``subparsers``."""
    _add_avatar_parser(subparsers)
    _add_models_parser(subparsers)


def _add_dirs(c: argparse.ArgumentParser, *, avatars: bool = False, models: bool = False) -> None:
    if avatars:
        c.add_argument("--avatars-dir", type=Path, help="avatar packs (default: config)")
    if models:
        c.add_argument("--models-dir", type=Path, help="model files (default: config)")


def _add_avatar_parser(sub) -> None:
    avatar = sub.add_parser("avatar", help="prepare and list photo/video avatars (Wav2Lip)")
    cmds = avatar.add_subparsers(dest="avatar_command", required=True)
    prepare = cmds.add_parser("prepare", help="find the face in a photo or video, save a pack")
    prepare.add_argument("input", type=Path, help="PNG/JPEG photo or short MP4/WebM/MOV video")
    prepare.add_argument("--name", required=True, help="pack name: letters, digits, - or _")
    _add_dirs(prepare, avatars=True, models=True)
    _add_dirs(cmds.add_parser("list", help="list prepared avatars"), avatars=True)


def _add_models_parser(sub) -> None:
    models = sub.add_parser("models", help="list, fetch and quantize models")
    cmds = models.add_subparsers(dest="models_command", required=True)
    _add_dirs(cmds.add_parser("list", help="registry models: file, present?, licence"), models=True)
    fetch = cmds.add_parser("fetch", help="download or copy a model, verify and install it")
    fetch.add_argument("name", help="registry name, e.g. wav2lip")
    source = fetch.add_mutually_exclusive_group()
    source.add_argument("--url", help="download from here instead of the registry URL")
    source.add_argument("--from-file", type=Path, help="install this local file (.pth or .onnx)")
    fetch.add_argument("--sha256", help="expected sha256 of the download (default: registry)")
    fetch.add_argument("--no-verify", action="store_true", help="skip the sha256 check")
    fetch.add_argument("--force", action="store_true", help="fetch again if already present")
    fetch.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_dirs(fetch, models=True)
    quantize = cmds.add_parser("quantize", help="int8 (static QDQ) model, calibrated on a face")
    quantize.add_argument("name", nargs="?", default="wav2lip", help="wav2lip or wav2lip_gan")
    face = quantize.add_mutually_exclusive_group()
    face.add_argument("--image", type=Path, help="face photo to calibrate on")
    face.add_argument("--avatar", help="prepared avatar to calibrate on (default: config/first)")
    quantize.add_argument("--frames", type=int, default=48, help="calibration frames (8-256)")
    _add_dirs(quantize, avatars=True, models=True)


def run_asset_command(args: argparse.Namespace) -> int:
    """``avatar ...`` and ``models ...``: settings from config, directories from the flags."""
    from config import Settings

    try:
        settings = Settings.load()
        # Flags are set after loading: Settings.load lets the environment win over overrides.
        for key in ("avatars_dir", "models_dir"):
            if (value := getattr(args, key, None)) is not None:
                setattr(settings, key, value.expanduser())
    except ValidationError as exc:
        return fail(f"invalid settings: {exc}", EXIT_BAD_INPUT)
    command = f"{args.command}_{getattr(args, args.command + '_command')}"
    handler = HANDLERS[command]
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_FAILED)
