"""The Ray Serve deployments, one module each; ``serve_app.app.build_app`` binds them.

    ingress.py          Ingress          HTTP routes and the WebSocket (one Connection each)
    tts.py              TTS              Sentence -> TTSAudio, the configured TTS engine
    sprite_avatar.py    Avatar           TTSAudio -> frame chunks, the drawn sprite face
    wav2lip_avatar.py   Avatar           TTSAudio -> frame chunks, Wav2Lip (inference in LipSync)
    lipsync_pool.py     LipSync          LipSyncPool: batched Wav2Lip inference (ONNX Runtime)
    asr.py              ASR              Utterance -> Transcript, the configured ASR engine

Both avatar classes deploy under the name "Avatar", so serve_config.yaml's Avatar entry applies
to whichever one the settings choose (``wav2lip_avatar.avatar_deployment``).
"""
