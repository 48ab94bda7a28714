"""Avatar renderers, ``TTSAudio -> VideoFrames``, and what they are built from.

``SpriteAvatar`` is the offline default, a drawn face that needs no weights.
``Wav2LipAvatar`` animates a photo or video prepared into an ``AvatarPack`` by
``prepare_avatar`` (which finds the face with ``BlazeFaceDetector``) and runs the model
through ``Wav2LipRunner`` (in parts: ``FaceFeatureCache`` keeps the face encoder's outputs,
``MouthWindows`` the graphs cropped to a mouth window). Both satisfy the ``AvatarRenderer``
protocol. A server offers several by name (``sprite``, ``sprite:night``, packs) through
``catalog.AvatarCatalog``.

These modules need only NumPy and OpenCV to import: ONNX Runtime is imported when a
detector or a runner is constructed, so loading a pack never pulls it in.
"""

from actors.engines.avatar.base import AvatarRenderer
from actors.engines.avatar.face_cache import FaceFeatureCache
from actors.engines.avatar.faces import BlazeFaceDetector, FaceBox
from actors.engines.avatar.mouth_windows import MouthWindows
from actors.engines.avatar.pack import AvatarPack
from actors.engines.avatar.prepare import NoFaceFoundError, UnreadableInputError, prepare_avatar
from actors.engines.avatar.sprite import SpriteAvatar
from actors.engines.avatar.wav2lip import Wav2LipAvatar
from actors.engines.avatar.wav2lip_runner import Wav2LipRunner

__all__ = [
    "AvatarPack",
    "AvatarRenderer",
    "BlazeFaceDetector",
    "FaceBox",
    "FaceFeatureCache",
    "MouthWindows",
    "NoFaceFoundError",
    "SpriteAvatar",
    "UnreadableInputError",
    "Wav2LipAvatar",
    "Wav2LipRunner",
    "prepare_avatar",
]
