"""``avatar-chat`` command line: render replies to MP4 files without a server.

    avatar-chat say "TEXT" -o reply.mp4      speak TEXT verbatim
    avatar-chat ask "QUESTION" -o reply.mp4  ask the LLM, speak its answer
    avatar-chat avatar prepare PHOTO --name NAME   make a photo/video avatar pack
    avatar-chat avatar list                  list prepared avatars
    avatar-chat models list                  registry models, whether present, licences
    avatar-chat models fetch NAME            download (and convert) a model
    avatar-chat models quantize wav2lip      write the int8 model beside the fp32 one

Exit codes: 0 done, 1 a stage failed (or a model is missing), 2 bad input (empty or
too long text, unwritable output, invalid settings, unreadable or faceless avatar input).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from actors.cli.asset_commands import EXIT_BAD_INPUT, EXIT_FAILED
from actors.cli.asset_commands import fail as _fail
from actors.cli.assets import ASSET_COMMANDS, add_asset_commands, run_asset_command
from actors.core.textclean import InputTextError, clean_text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avatar-chat", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log stage details")
    sub = p.add_subparsers(dest="command", required=True)
    for name, what in (("say", "text to speak verbatim"), ("ask", "question for the LLM")):
        c = sub.add_parser(name, help=f"render a reply to an MP4 file ({what})")
        c.add_argument("text", help=what)
        c.add_argument("-o", "--output", type=Path, default=Path("reply.mp4"), help="MP4 path")
        c.add_argument(
            "--tts", choices=["fallback", "edge", "espeak"], help="speech engine (default: config)"
        )
        c.add_argument("--size", type=int, help="avatar frame size in pixels (256-512)")
        c.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_asset_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command in ("say", "ask"):
        return _render_command(args)
    if args.command in ASSET_COMMANDS:
        return run_asset_command(args)
    return EXIT_BAD_INPUT  # pragma: no cover - argparse enforces the choices


def _render_command(args: argparse.Namespace) -> int:
    from config import Settings

    overrides: dict = {}
    if args.tts:
        overrides.setdefault("tts", {})["engine"] = args.tts
    if args.size:
        overrides.setdefault("avatar", {})["size"] = args.size
    try:
        settings = Settings.load().with_overrides(overrides)
        text = clean_text(args.text, max_chars=settings.text.max_input_chars)
    except ValidationError as exc:
        return _fail(f"invalid settings: {exc}", EXIT_BAD_INPUT)
    except InputTextError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    from actors.cli.output_files import check_writable

    try:
        check_writable(args.output)
    except OSError as exc:
        return _fail(f"cannot write output: {exc}", EXIT_BAD_INPUT)
    try:
        return asyncio.run(_render(args, settings, text))
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILED)


async def _render(args: argparse.Namespace, settings, text: str) -> int:
    from actors.cli.output_files import atomic_output
    from actors.cli.progress import RenderProgress
    from actors.core.messages import TextDelta
    from actors.pipeline.local_stages import LocalStages, verbatim
    from actors.pipeline.turn_events import SentenceStarted, TurnDone, TurnFailed

    stages = LocalStages(settings)
    if args.command == "say":
        source = verbatim(text)
    else:
        from actors.core.messages import Transcript
        from actors.engines.llm import llm_engines
        from actors.pipeline.history import ChatHistory

        llm = llm_engines.create(settings.llm)  # a one-off question: no history to record
        source = llm.stream(ChatHistory(), Transcript(text))
    t0 = time.perf_counter()
    errors: list[str] = []
    done: TurnDone | None = None
    engines: set[str] = set()
    progress = RenderProgress(enabled=not args.no_progress)
    try:
        with atomic_output(args.output) as out:  # kept only when media was produced
            async for event in stages.pipeline().run(source):
                if isinstance(event, TextDelta):
                    progress.text(event.text)
                elif isinstance(event, SentenceStarted):
                    engines.add(event.engine)
                    progress.sentence(event.duration_s)
                elif isinstance(event, TurnFailed):
                    errors.append(f"{event.code}: {event.message}")
                elif isinstance(event, TurnDone):
                    done = event
                else:
                    out.write(event.data)
            if done is None or done.media_s == 0:
                raise _NoMedia
    except _NoMedia:
        done = None
    finally:
        progress.close()
        for err in errors:
            print(f"avatar-chat: {err}", file=sys.stderr)
    if done is None:
        return _fail("no media was produced", EXIT_FAILED)
    st = done.timings.seconds
    print(
        f"wrote {args.output}: {done.media_s:.1f} s of media in {time.perf_counter() - t0:.1f} s"
        f" (tts {st.get('tts', 0):.2f} s [{', '.join(sorted(engines))}],"
        f" avatar {st.get('avatar', 0):.2f} s, encode {st.get('encode', 0):.2f} s,"
        f" first media after {st.get('first_media', 0):.2f} s)"
    )
    return EXIT_FAILED if errors else 0


class _NoMedia(Exception):
    """Leaves ``atomic_output`` without keeping the (empty) file."""


if __name__ == "__main__":
    sys.exit(main())
