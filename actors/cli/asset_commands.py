"""What ``avatar-chat avatar ...`` and ``avatar-chat models ...`` do: one function a command.

``HANDLERS`` maps ``"<group>_<command>"`` to a function ``(args, settings) -> exit code``;
``actors.cli.assets`` parses the arguments and calls it. The CLI's exit codes and error
printer live here, in the module the others import (``actors.cli.main`` -> ``actors.cli.assets``
-> this one), so that this module needs nothing from the modules that import it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


def fail(message: str, code: int) -> int:
    """Print ``message`` as the CLI's error and return ``code`` (the exit status)."""
    print(f"avatar-chat: {message}", file=sys.stderr)
    return code


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def _avatar_prepare(args: argparse.Namespace, settings) -> int:
    from actors.engines.avatar.prepare import DETECTOR, prepare_avatar, validate_name
    from models.ensure import ensure_model
    from models.registry import ModelMissing

    try:
        validate_name(args.name)
    except ValueError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    if not args.input.is_file():
        return fail(f"avatar input not found: {args.input}", EXIT_BAD_INPUT)
    try:  # on first use the detector is downloaded (a progress bar on stderr)
        ensure_model(DETECTOR, settings.models_dir, log=_note)
    except ModelMissing as exc:  # offline: it names the file and the command to install it
        return fail(f"cannot detect faces: {exc}", EXIT_FAILED)
    print(f"preparing avatar {args.name!r} from {args.input} ...", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        pack = prepare_avatar(
            args.input,
            name=args.name,
            avatars_dir=settings.avatars_dir,
            models_dir=settings.models_dir,
            max_frames=settings.lipsync.max_frames,
            max_side=settings.lipsync.max_side,
        )
    except ValueError as exc:  # NoFaceFoundError, UnreadableInputError, unsupported type
        return fail(f"cannot prepare an avatar from {args.input}: {exc}", EXIT_BAD_INPUT)
    except OSError as exc:
        return fail(f"cannot save avatar {args.name!r} in {settings.avatars_dir}: {exc}", 1)
    height, width = pack.frames.shape[1:3]
    print(
        f"prepared avatar {args.name!r}: {len(pack)} frames of {width}x{height} from "
        f"{args.input.name} in {time.perf_counter() - t0:.1f} s"
        f" -> {Path(settings.avatars_dir) / args.name}"
    )
    return 0


def _avatar_list(args: argparse.Namespace, settings) -> int:
    import json

    root = Path(settings.avatars_dir)
    packs = sorted(p for p in root.glob("*/meta.json") if not p.parent.name.startswith("."))
    if not packs:
        print(f"no avatars in {root}; make one with: avatar-chat avatar prepare PHOTO --name NAME")
        return 0
    print(f"avatars in {root}:")
    for meta_path in packs:
        try:
            meta = json.loads(meta_path.read_text())
            width, height = meta["size"]
            about = (
                f"{meta['frames']:>4} frames {width}x{height}  {meta['kind']} from "
                f"{meta['source']}  {meta.get('created', '')}"
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            about = f"damaged ({type(exc).__name__}): prepare it again"
        print(f"  {meta_path.parent.name:<24} {about}")
    return 0


def _models_list(args: argparse.Namespace, settings) -> int:
    from models.registry import REGISTRY, find_model

    print(f"models in {settings.models_dir}:")
    print(f"  {'name':<28} {'file':<34} {'present':<10} licence")
    for spec in REGISTRY.values():
        if spec.kind == "external":
            file, present = "(faster-whisper's cache)", "n/a"
        else:
            found = find_model(spec.name, settings.models_dir)
            file = spec.filename if spec.kind != "bundled" else "(inside faster-whisper)"
            present = "yes" if found else "no"
            if found and spec.kind == "pytorch":
                has_int8 = find_model(spec.name, settings.models_dir, precision="int8")
                present += "+int8" if has_int8 else ""
        print(f"  {spec.name:<28} {file:<34} {present:<10} {spec.licence}")
    return 0


def _models_fetch(args: argparse.Namespace, settings) -> int:
    from models.fetch import FetchError, fetch_model
    from models.registry import get_spec, model_path

    try:
        spec = get_spec(args.name)
    except KeyError as exc:
        return fail(str(exc.args[0]), EXIT_BAD_INPUT)
    if not spec.fetchable:
        return fail(f"{spec.name} is not fetched by avatar-chat: {spec.notes}", EXIT_BAD_INPUT)
    target = model_path(spec.name, settings.models_dir)
    if target.is_file() and not args.force:
        print(f"{spec.name} is already at {target} (--force fetches it again)")
        return 0
    source = args.from_file or args.url or spec.source_url()
    if source is None:
        return fail(f"{spec.name} has no download URL: pass --url or --from-file", 2)
    print(f"fetching {spec.name} from {source}; licence: {spec.licence}", file=sys.stderr)
    try:
        path = fetch_model(
            spec.name,
            settings.models_dir,
            url=args.url,
            from_file=args.from_file,
            progress=not args.no_progress,
            sha256=args.sha256,
            verify=not args.no_verify,
            force=args.force,
        )
    except (ValueError, FileNotFoundError) as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except (FetchError, OSError) as exc:
        return fail(str(exc), EXIT_FAILED)
    print(f"installed {spec.name} at {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _models_quantize(args: argparse.Namespace, settings) -> int:
    from actors.engines.avatar.calibration import portrait_crops, quantize_model
    from actors.engines.avatar.prepare import DETECTOR, AvatarPack
    from models.ensure import ensure_model
    from models.registry import ModelMissing, get_spec, require_model

    if args.name not in ("wav2lip", "wav2lip_gan") or not 8 <= args.frames <= 256:
        return fail("quantize takes wav2lip or wav2lip_gan and --frames 8-256", EXIT_BAD_INPUT)
    try:
        require_model(args.name, settings.models_dir)
        if args.image:
            ensure_model(DETECTOR, settings.models_dir, log=_note)
            crops = portrait_crops(args.image, models_dir=settings.models_dir)
        else:
            name = args.avatar or settings.avatar.name or _first_avatar(settings.avatars_dir)
            if name is None:
                return fail("no avatar to calibrate on: pass --image PHOTO", EXIT_BAD_INPUT)
            crops = AvatarPack.load(settings.avatars_dir, name).crops
    except ModelMissing as exc:
        return fail(str(exc), EXIT_FAILED)
    except (ValueError, FileNotFoundError) as exc:
        return fail(f"cannot calibrate on that face: {exc}", EXIT_BAD_INPUT)
    print(f"quantizing {args.name} on {args.frames} frames ...", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        path = quantize_model(args.name, settings.models_dir, crops=crops, n_frames=args.frames)
    except ImportError as exc:
        hint = "pip install 'avatar-chat[tools]'"
        return fail(f"quantization needs onnx ({exc}): {hint}", EXIT_FAILED)
    except (ValueError, RuntimeError, OSError) as exc:
        return fail(f"quantization failed: {exc}", EXIT_FAILED)
    licence = get_spec(args.name).licence
    print(f"wrote {path} in {time.perf_counter() - t0:.0f} s (int8 QDQ; licence: {licence})")
    return 0


def _first_avatar(avatars_dir: Path) -> str | None:
    names = sorted(p.parent.name for p in Path(avatars_dir).glob("*/meta.json"))
    return next((n for n in names if not n.startswith(".")), None)


HANDLERS = {
    "avatar_prepare": _avatar_prepare,
    "avatar_list": _avatar_list,
    "models_list": _models_list,
    "models_fetch": _models_fetch,
    "models_quantize": _models_quantize,
}
