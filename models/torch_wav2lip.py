"""Wav2Lip as a torch ``nn.Module`` built from the layer table in ``models.wav2lip_layers``.

Its ``state_dict`` keys match the published checkpoints (Rudrabha/Wav2Lip), so it loads
one unchanged; ``models.export`` runs it on the same weights as the ONNX graph to check the
conversion. Needs torch (the ``[export]`` extra): import it through
``models.export.make_torch_wav2lip``, which says how to install torch when it is missing.
"""

from __future__ import annotations

import torch
from torch import nn

from models.wav2lip_layers import AUDIO_ENCODER, FACE_DECODER, FACE_ENCODER, OUTPUT_LAYER


class ConvLayer(nn.Module):
    """One table row: Conv2d (ConvTranspose2d for "up") + BatchNorm2d + ReLU, "res" adds x."""

    def __init__(self, kind, cin, cout, k, stride, pad):
        super().__init__()
        if kind == "up":
            conv = nn.ConvTranspose2d(cin, cout, k, stride, pad, output_padding=stride - 1)
        else:
            conv = nn.Conv2d(cin, cout, k, stride, pad)
        self.conv_block = nn.Sequential(conv, nn.BatchNorm2d(cout))
        self.residual = kind == "res"
        self.act = nn.ReLU()

    def forward(self, x):
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class Wav2Lip(nn.Module):
    """``mel`` [B,1,80,16], ``face`` [B,6,96,96] -> ``output`` [B,3,96,96] in 0..1."""

    def __init__(self):
        super().__init__()
        seq = lambda specs: nn.Sequential(*(ConvLayer(*s) for s in specs))  # noqa: E731
        self.face_encoder_blocks = nn.ModuleList(seq(b) for b in FACE_ENCODER)
        self.audio_encoder = seq(AUDIO_ENCODER)
        self.face_decoder_blocks = nn.ModuleList(seq(b) for b in FACE_DECODER)
        self.output_block = nn.Sequential(
            ConvLayer(*OUTPUT_LAYER), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid()
        )

    def forward(self, mel, face):
        feats, x = [], face
        for block in self.face_encoder_blocks:
            x = block(x)
            feats.append(x)
        x = self.audio_encoder(mel)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), feats.pop()), dim=1)
        return self.output_block(x)
