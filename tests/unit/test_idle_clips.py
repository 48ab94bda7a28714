"""The Ingress's idle clips: made once per avatar and drawing, made again after the Avatar
deployment is reconfigured (a palette or size change must not leave pages showing the old
face at rest). A real AvatarDeployment and the real encoder, called in-process."""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict

import av
import pytest

import serve_app.deployments.ingress as ingress_module
from config import Settings
from serve_app.deployments.avatar import AvatarDeployment
from tests.fakes.fake_handles import InProcessHandle

pytestmark = pytest.mark.unit


class BareIngress:
    """The Ingress's idle-clip code with only the state it uses (no pool, no sockets; an
    instance of Serve's ASGI wrapper class would need a running replica to be torn down)."""

    _idle_response = ingress_module.Ingress.func_or_class._idle_response

    def __init__(self, settings: Settings, avatar) -> None:
        self.settings = settings
        self.handles = {"avatar": InProcessHandle(avatar)}
        self._idle_clips = OrderedDict()
        self._idle_lock = asyncio.Lock()


def clip_size(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


async def test_idle_clips_are_made_again_when_the_avatar_is_redrawn(monkeypatch):
    settings = Settings.model_validate({"avatar": {"size": 256}})
    avatar = AvatarDeployment.func_or_class(settings.model_dump(mode="json"))
    ingress = BareIngress(settings, avatar)
    renders = []
    real_render = ingress_module.render_idle_clip

    async def counting_render(*args, **kwargs):
        renders.append(args[-1])  # the avatar's name
        return await real_render(*args, **kwargs)

    monkeypatch.setattr(ingress_module, "render_idle_clip", counting_render)

    first = await ingress._idle_response(None)
    again = await ingress._idle_response(None)
    assert first.status_code == again.status_code == 200
    assert again.body == first.body and renders == [None]  # kept: rendered once
    assert clip_size(first.body) == (256, 256)

    avatar.reconfigure({"size": 320})  # what a serve_config user_config change does
    redrawn = await ingress._idle_response(None)
    assert renders == [None, None]
    assert clip_size(redrawn.body) == (320, 320)

    night = await ingress._idle_response("sprite:night")
    assert night.status_code == 200 and renders[-1] == "sprite:night"
    missing = await ingress._idle_response("nobody")
    assert missing.status_code == 404
