"""Silent frames skip the Wav2Lip model through real Serve (Avatar + LipSync deployments).

Its own module, so its app runs after test_lipsync_serve.py's is gone: Ray counts the CPUs
each replica reserves, and two Wav2Lip apps beside the suite's own do not fit.
"""

from __future__ import annotations

import numpy as np
import pytest
from ray import serve

from actors.core.messages import Sentence, TTSAudio, pad_to_frames
from actors.engines.tts import EspeakTTS
from tests.serve_fixtures import running_app

# A hang guard, not a speed limit: the module's Wav2Lip apps start inside its first test,
# and beside two CPU burners that start and one turn took over the suite's 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
APP = "lipsync-silence"


def frames_done(stats: dict) -> int:
    return sum(size * count for size, count in stats["frames_per_batch"].items())


async def test_silent_frames_are_the_packs_own_and_never_inferred(astro_pack, wav2lip_models_dir):
    """Speech, then 1.2 s of silence: the silent frames are the pack's own, not inferred."""
    avatars, _ = astro_pack
    args = {
        "avatar": {"kind": "wav2lip", "name": "astro"},
        "lipsync": {"chunk_frames": 8, "intra_op_threads": 1, "silence_db": -45.0},
        "avatars_dir": str(avatars),
        "models_dir": str(wav2lip_models_dir),
    }
    speech = await EspeakTTS().synthesize(Sentence("Hello there."))
    pcm = np.concatenate([speech.pcm, np.zeros(int(1.2 * speech.sample_rate), np.int16)])
    pcm = pad_to_frames(pcm, speech.sample_rate, 25)
    n_frames = len(pcm) * 25 // speech.sample_rate
    audio = TTSAudio(pcm, speech.sample_rate, "espeak")
    with running_app(args, name=APP, route_prefix="/silence"):
        avatar = serve.get_deployment_handle("Avatar", app_name=APP)
        lipsync = serve.get_deployment_handle("LipSync", app_name=APP)
        await lipsync.reset_stats.remote()
        stream = avatar.options(stream=True).talking.remote(audio, 0, len(pcm), "silence")
        frames = np.concatenate([chunk async for chunk in stream])
        done = frames_done(await lipsync.stats.remote())
        rest = await avatar.idle.remote(n_frames, 0)
    assert len(frames) == n_frames
    # ~30 silent frames: all but the blend ramps (the end of a sentence counts as speech,
    # as the next one starts speaking at once) and the model's audio window are skipped.
    assert 0 < done <= n_frames - 15, (done, n_frames)
    # Every frame not inferred is the pack's own frame, untouched.
    untouched = sum(np.array_equal(f, r) for f, r in zip(frames, rest, strict=True))
    assert untouched == n_frames - done, (untouched, n_frames, done)
