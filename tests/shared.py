"""Where the offline test material lives: ``../shared`` beside the checkout, as in CI, or the
folder named by ``AVATAR_CHAT_SHARED`` (face models in ``models/``, a portrait in ``data/``)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AVATAR_CHAT_SHARED") or ROOT.parent / "shared").expanduser()
MISSING_HINT = (
    f"offline test material not found at {SHARED}: put the project's shared/ folder (models/, "
    "data/) beside the checkout, or set AVATAR_CHAT_SHARED to it"
)
