"""The Ray Serve deployments, one module each; ``serve_app.app.build_app`` binds them.

    ingress.py          Ingress          HTTP routes and the WebSocket (one Connection each)
    tts.py              TTS              Sentence -> TTSAudio, the configured TTS engine
    avatar.py           Avatar           TTSAudio -> frame chunks, any avatar by name (sprite
                                         styles, Wav2Lip packs), loaded on use, LRU-cached
    avatar_frames.py    (helpers)        the sprite's and Wav2Lip's frame streams
    lipsync_pool.py     LipSync          LipSyncPool: batched Wav2Lip inference (ONNX Runtime)
    asr.py              ASR              Utterance -> Transcript, the configured ASR engine

``avatar.avatar_deployment`` binds the Avatar deployment, with the LipSync pool when
``avatar.kind`` is wav2lip and the model is there (then Wav2Lip packs are offered too).
"""
