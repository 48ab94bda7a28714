"""``avatar-chat avatar ...`` and ``avatar-chat models list/fetch`` offline, on real files."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from actors.cli.main import main
from actors.engines.avatar.prepare import AvatarPack
from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.integration

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actors.cli.main", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_prepare_then_list(tmp_path, shared_models):
    avatars = tmp_path / "avatars"
    done = run_cli(
        "avatar", "prepare", str(PORTRAIT), "--name", "astro",
        "--avatars-dir", str(avatars), "--models-dir", str(shared_models),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prepared avatar 'astro': 1 frames of 512x512" in done.stdout
    pack = AvatarPack.load(avatars, "astro")
    assert len(pack) == 1 and pack.crops.shape == (1, 96, 96, 3)
    assert pack.meta["source"] == PORTRAIT.name

    listed = run_cli("avatar", "list", "--avatars-dir", str(avatars))
    assert listed.returncode == 0
    assert "astro" in listed.stdout and "512x512" in listed.stdout


def test_image_without_a_face_exits_2_naming_the_file(tmp_path, shared_models, capsys):
    gradient = np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))
    path = tmp_path / "gradient.png"
    cv2.imwrite(str(path), cv2.merge([gradient, gradient[::-1], gradient.T]))
    argv = ["avatar", "prepare", str(path), "--name", "flat", "--avatars-dir", str(tmp_path)]
    assert main([*argv, "--models-dir", str(shared_models)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "no face" in err
    assert not (tmp_path / "flat").exists()


def test_unreadable_and_missing_inputs_exit_2(tmp_path, shared_models, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    common = ["--name", "x", "--avatars-dir", str(tmp_path), "--models-dir", str(shared_models)]
    assert main(["avatar", "prepare", str(broken), *common]) == 2
    assert str(broken) in capsys.readouterr().err
    missing = tmp_path / "nowhere.jpg"
    assert main(["avatar", "prepare", str(missing), *common]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["avatar", "prepare", str(PORTRAIT), *common[:1], "bad name!", *common[2:]]) == 2


def test_missing_detector_says_how_to_fetch_it(tmp_path, capsys):
    argv = ["avatar", "prepare", str(PORTRAIT), "--name", "astro"]
    code = main([*argv, "--avatars-dir", str(tmp_path), "--models-dir", str(tmp_path / "none")])
    assert code == 1
    assert "avatar-chat models fetch face_detection_short_range" in capsys.readouterr().err


def test_empty_avatar_list_says_how_to_make_one(tmp_path, capsys):
    assert main(["avatar", "list", "--avatars-dir", str(tmp_path)]) == 0
    assert "avatar-chat avatar prepare" in capsys.readouterr().out


def test_models_list_and_fetch_from_file(tmp_path, shared_models, capsys):
    assert main(["models", "list", "--models-dir", str(shared_models)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert " yes " in lines["face_detection_short_range"]
    assert " no " in lines["wav2lip"] and "non-commercial" in lines["wav2lip"]
    assert "Apache-2.0" in lines["face_landmark"]

    models = tmp_path / "models"
    source = shared_models / "face_landmark.onnx"
    argv = ["models", "fetch", "face_landmark", "--from-file", str(source)]
    assert main([*argv, "--models-dir", str(models)]) == 0
    assert (models / "face_landmark.onnx").read_bytes() == source.read_bytes()
    assert "installed face_landmark" in capsys.readouterr().out
    assert main(["models", "fetch", "face_landmark", "--models-dir", str(models)]) == 0
    assert "already at" in capsys.readouterr().out
    assert main(["models", "fetch", "silero_vad", "--models-dir", str(models)]) == 2
    assert main(["models", "fetch", "nosuch", "--models-dir", str(models)]) == 2
    assert main(["models", "fetch", "face_detection_short_range", "--models-dir", str(models)]) == 2
    assert "--url or --from-file" in capsys.readouterr().err
