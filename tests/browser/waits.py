"""Waits shared by the browser tests."""

from __future__ import annotations

REPLY_TIMEOUT_MS = 120_000  # espeak + sprite + encode on a small shared CPU

# Every toast the page shows, in order (add it with ``page.add_init_script``): toasts fade
# after a few seconds, and a wait that polls for one on screen can miss it. Observes the
# whole document from its creation, so none is missed however early it comes.
RECORD_TOASTS = """
window.toastLog = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.id === 'toasts') for (const n of r.addedNodes) window.toastLog.push(n.textContent);
  }
}).observe(document, { childList: true, subtree: true });
"""


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


def edit_session_event(condition: str, statement: str) -> str:
    """An init script that runs ``statement`` on each ``session`` event (``event``) for which
    ``condition`` holds, before the page sees it: a server that says something else."""
    return f"""
(() => {{
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {{
    set onmessage(handler) {{
      super.onmessage = (msg) => {{
        if (typeof msg.data === 'string') {{
          const event = JSON.parse(msg.data);
          if (event.type === 'session' && ({condition})) {{
            {statement};
            return handler(new MessageEvent('message', {{ data: JSON.stringify(event) }}));
          }}
        }}
        return handler(msg);
      }};
    }}
  }};
}})();
"""
