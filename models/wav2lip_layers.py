"""Wav2Lip's published shape: its tensors and the layer table of its generator.

The table transcribes the published network (Rudrabha/Wav2Lip, ``models/wav2lip.py`` and
``models/conv.py``). ``models.export`` writes the ONNX graph from it and ``models.torch_wav2lip``
builds the torch module from it; the runtime (``actors.engines.avatar.wav2lip_runner``) checks
models against the tensor shapes.
"""

from __future__ import annotations

IMG_SIZE = 96
MEL_SHAPE = (1, 80, 16)  # one mel window per video frame
FACE_SHAPE = (6, IMG_SIZE, IMG_SIZE)  # masked crop + reference crop, BGR, channels first
OUTPUT_SHAPE = (3, IMG_SIZE, IMG_SIZE)

# (kind, cin, cout, kernel, stride, padding). "conv": Conv2d+BatchNorm+ReLU; "res": the same
# with the input added before the ReLU; "up": ConvTranspose2d+BatchNorm+ReLU, output_padding
# stride-1.
FACE_ENCODER = (
    (("conv", 6, 16, 7, 1, 3),),
    (("conv", 16, 32, 3, 2, 1),) + (("res", 32, 32, 3, 1, 1),) * 2,
    (("conv", 32, 64, 3, 2, 1),) + (("res", 64, 64, 3, 1, 1),) * 3,
    (("conv", 64, 128, 3, 2, 1),) + (("res", 128, 128, 3, 1, 1),) * 2,
    (("conv", 128, 256, 3, 2, 1),) + (("res", 256, 256, 3, 1, 1),) * 2,
    (("conv", 256, 512, 3, 2, 1), ("res", 512, 512, 3, 1, 1)),
    (("conv", 512, 512, 3, 1, 0), ("conv", 512, 512, 1, 1, 0)),
)
AUDIO_ENCODER = (
    (("conv", 1, 32, 3, 1, 1),) + (("res", 32, 32, 3, 1, 1),) * 2
    + (("conv", 32, 64, 3, (3, 1), 1),) + (("res", 64, 64, 3, 1, 1),) * 2
    + (("conv", 64, 128, 3, 3, 1),) + (("res", 128, 128, 3, 1, 1),) * 2
    + (("conv", 128, 256, 3, (3, 2), 1), ("res", 256, 256, 3, 1, 1))
    + (("conv", 256, 512, 3, 1, 0), ("conv", 512, 512, 1, 1, 0))
)  # fmt: skip
FACE_DECODER = (
    (("conv", 512, 512, 1, 1, 0),),
    (("up", 1024, 512, 3, 1, 0), ("res", 512, 512, 3, 1, 1)),
    (("up", 1024, 512, 3, 2, 1),) + (("res", 512, 512, 3, 1, 1),) * 2,
    (("up", 768, 384, 3, 2, 1),) + (("res", 384, 384, 3, 1, 1),) * 2,
    (("up", 512, 256, 3, 2, 1),) + (("res", 256, 256, 3, 1, 1),) * 2,
    (("up", 320, 128, 3, 2, 1),) + (("res", 128, 128, 3, 1, 1),) * 2,
    (("up", 160, 64, 3, 2, 1),) + (("res", 64, 64, 3, 1, 1),) * 2,
)
OUTPUT_LAYER = ("conv", 80, 32, 3, 1, 1)  # output_block.0; then a plain 1x1 conv and sigmoid
