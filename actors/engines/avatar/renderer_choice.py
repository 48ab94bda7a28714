"""Building the configured avatar renderer from settings: the one place that chooses.

``make_avatar`` gives Wav2Lip when it is configured and its pack and weights are present, else
the sprite, whose ``note`` then says why (missing pack or weights, and how to get them). That is
the one renderer of a local pipeline (CLI, notebooks); a server offers many avatars by name
through ``actors.engines.avatar.catalog``, which builds its sprites with ``make_sprite`` too.
"""

from __future__ import annotations

from actors.engines.avatar.base import AvatarRenderer
from config import Settings

__all__ = ["make_avatar", "make_sprite", "sprite_recipe"]


def sprite_recipe(settings: Settings, palette: str | None = None) -> dict:
    """``SpriteAvatar``'s keyword arguments for the sprite in ``palette`` (None:
    ``avatar.palette``): all it takes to draw the same frames in another process."""
    a = settings.avatar
    return {
        "size": a.size,
        "fps": a.fps,
        "mouth_smoothing": a.mouth_smoothing,
        "seed": a.seed,
        "palette": palette or a.palette,
    }


def make_sprite(settings: Settings, palette: str | None = None) -> AvatarRenderer:
    """The sprite avatar in ``palette`` (None: ``avatar.palette``, and then, when Wav2Lip was
    asked for, its ``note`` says why Wav2Lip is not in use: missing pack or weights, and how to
    get them)."""
    from actors.engines.avatar.sprite import SpriteAvatar

    sprite = SpriteAvatar(**sprite_recipe(settings, palette))
    if settings.avatar.kind == "wav2lip" and palette is None:
        from actors.engines.avatar.wav2lip import unavailable_reason

        sprite.note = unavailable_reason(settings) or ""
    return sprite


def make_avatar(settings: Settings) -> AvatarRenderer:
    """The configured avatar renderer; Wav2Lip falls back to the sprite when unavailable."""
    if settings.avatar.kind == "wav2lip":
        from actors.engines.avatar.silence import silence_from_settings
        from actors.engines.avatar.wav2lip import Wav2LipAvatar, make_runner, unavailable_reason

        if unavailable_reason(settings) is None:
            ls = settings.lipsync
            return Wav2LipAvatar.load(
                settings.avatars_dir,
                settings.avatar.name,
                runner=make_runner(settings),
                fps=settings.avatar.fps,
                batch_size=ls.max_batch_size,
                silence=silence_from_settings(ls),
            )
    return make_sprite(settings)
