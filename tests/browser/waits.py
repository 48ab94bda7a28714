"""Waits shared by the browser tests."""

from __future__ import annotations

REPLY_TIMEOUT_MS = 120_000  # espeak + sprite + encode on a small shared CPU


def wait_talking_video_plays(page) -> None:
    """Speaking, the talking video shown, its clock advancing and frames decoded."""
    page.wait_for_function(
        "window.avatarChat.status === 'speaking'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    page.wait_for_function(
        """() => {
            const v = document.getElementById('talk-video');
            return v.classList.contains('visible') && v.currentTime > 0.2
                && window.avatarChat.decodedFrames() > 0;
        }""",
        timeout=30_000,
        polling=50,
    )
