"""A tiny random-weight Whisper model in CTranslate2 format, built offline for tests.

It has Whisper's multilingual token layout (51865 ids: 50257 text tokens, then
``<|endoftext|>``, ``<|startoftranscript|>``, 99 language tokens, the task tokens,
``<|notimestamps|>`` and 1501 timestamps), so faster-whisper treats it as multilingual
and detects a language. Text tokens are the 256 byte-level symbols plus filler words
``" w<n>"``: any text encodes, any id decodes. The weights are random and tiny
(``d_model`` 64), so transcripts are meaningless; ``eot_bias`` pushes the decoder to end
after one token (the first step may not end: faster-whisper suppresses it there), which
keeps decoding fast and bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ctranslate2.specs import WhisperSpec, model_spec
from faster_whisper.tokenizer import _LANGUAGE_CODES
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

N_TEXT_TOKENS = 50257  # Whisper's GPT-2 text vocabulary size: <|endoftext|> comes next
LANGUAGES = tuple(code for code in _LANGUAGE_CODES if code != "yue")  # 99, as in v1/v2
N_MELS = 80
N_AUDIO_CTX = 1500  # encoder positions: 30 s of 10 ms mel frames after the stride-2 conv
N_TEXT_CTX = 448


def special_tokens() -> list[str]:
    tokens = ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += [f"<|{code}|>" for code in LANGUAGES]
    tokens += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>"]
    tokens += ["<|nocaptions|>", "<|notimestamps|>"]
    tokens += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return tokens


def build_tokenizer() -> Tokenizer:
    """Byte-level BPE without merges, then Whisper's special tokens at Whisper's ids."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    for i in range(len(vocab), N_TEXT_TOKENS):
        vocab[f"\u0120w{i}"] = i  # "\u0120" is the byte-level symbol for a space
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(special_tokens())
    if tokenizer.token_to_id("<|endoftext|>") != N_TEXT_TOKENS:
        raise RuntimeError("special tokens did not land at Whisper's ids")
    return tokenizer


def build_tiny_whisper(
    directory: Path,
    *,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 2,
    eot_bias: float = 12.0,
    seed: int = 0,
) -> Path:
    """Write the model (model.bin, config.json, vocabulary, tokenizer.json,
    preprocessor_config.json) into ``directory`` and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokenizer = build_tokenizer()
    vocab_size = tokenizer.get_vocab_size()

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    spec = WhisperSpec(layers, heads, layers, heads)
    enc, dec = spec.encoder, spec.decoder
    enc.conv1.weight, enc.conv1.bias = rand(d_model, N_MELS, 3), rand(d_model)
    enc.conv2.weight, enc.conv2.bias = rand(d_model, d_model, 3), rand(d_model)
    enc.position_encodings.encodings = rand(N_AUDIO_CTX, d_model)
    dec.embeddings.weight = rand(vocab_size, d_model)
    dec.position_encodings.encodings = rand(N_TEXT_CTX, d_model)
    dec.projection.weight = rand(vocab_size, d_model)
    bias = np.zeros(vocab_size, np.float32)
    bias[tokenizer.token_to_id("<|endoftext|>")] = eot_bias
    dec.projection.bias = bias
    for layer in enc.layer:
        _fill_attention(layer.self_attention, [3, 1], d_model, rand)
        _fill_ffn(layer.ffn, d_model, rand)
    for layer in dec.layer:
        _fill_attention(layer.self_attention, [3, 1], d_model, rand)
        _fill_attention(layer.attention, [1, 2, 1], d_model, rand)  # q, fused kv, out
        _fill_ffn(layer.ffn, d_model, rand)
    _fill_norm(enc.layer_norm, d_model)
    _fill_norm(dec.layer_norm, d_model)

    tokens = [tokenizer.id_to_token(i) for i in range(vocab_size)]
    # This ctranslate2 build (4.8.5) treats a Whisper vocabulary as multilingual only if it
    # holds an empty-string token (older ones: size >= 51865); give it one in the text range.
    tokens[N_TEXT_TOKENS - 1] = ""
    spec.register_vocabulary(tokens)
    lang_ids = [tokenizer.token_to_id(f"<|{code}|>") for code in LANGUAGES]
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [tokenizer.token_to_id("\u0120"), N_TEXT_TOKENS]
    spec.config.lang_ids = lang_ids
    spec.config.alignment_heads = [[layer, h] for layer in range(layers // 2, layers)
                                   for h in range(heads)]  # fmt: skip
    spec.validate()
    spec.optimize()
    spec.save(str(directory))
    tokenizer.save(str(directory / "tokenizer.json"))
    preprocessor = {"feature_size": N_MELS, "sampling_rate": 16000, "hop_length": 160,
                    "chunk_length": 30, "n_fft": 400}  # fmt: skip
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return directory


def _fill_attention(spec: model_spec.LayerSpec, parts: list[int], d_model: int, rand) -> None:
    """Linear layers of ``parts[i] * d_model`` outputs each, plus the pre-norm."""
    for linear, n in zip(spec.linear, parts, strict=True):
        linear.weight, linear.bias = rand(n * d_model, d_model), rand(n * d_model)
    _fill_norm(spec.layer_norm, d_model)


def _fill_ffn(spec: model_spec.LayerSpec, d_model: int, rand) -> None:
    spec.linear_0.weight, spec.linear_0.bias = rand(4 * d_model, d_model), rand(4 * d_model)
    spec.linear_1.weight, spec.linear_1.bias = rand(d_model, 4 * d_model), rand(d_model)
    _fill_norm(spec.layer_norm, d_model)


def _fill_norm(spec: model_spec.LayerSpec, d_model: int) -> None:
    spec.gamma = np.ones(d_model, np.float32)
    spec.beta = np.zeros(d_model, np.float32)
