"""``avatar-chat avatar ...`` and ``avatar-chat models list/fetch`` on real files.

Offline except where a local HTTP server (``tests/fileserver.py``) stands in for the face
detector's published URL; every other run has the detector in its models dir, or an
unreachable URL, so no test reaches the real network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from actors.cli.main import main
from actors.engines.avatar.prepare import AvatarPack
from models.registry import REGISTRY, sha256_file
from tests.conftest import ROOT, SHARED
from tests.fileserver import FileServer

pytestmark = pytest.mark.integration

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"
DETECTOR = "face_detection_short_range"
TFLITE = f"{DETECTOR}.tflite"
UNREACHABLE = f"http://127.0.0.1:9/{TFLITE}"  # the discard port: connection refused


@pytest.fixture(autouse=True)
def no_real_network(monkeypatch):
    """A test that needs the detector downloaded sets its own URL; none reaches Google's."""
    monkeypatch.setenv("AVATAR_CHAT_FACE_DETECTOR_URL", UNREACHABLE)


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


def test_prepare_fetches_the_detector_on_first_use(tmp_path, shared_models, monkeypatch, capsys):
    root = tmp_path / "published"
    root.mkdir()
    shutil.copy(shared_models / TFLITE, root / TFLITE)
    server = FileServer(root)
    try:
        monkeypatch.setenv("AVATAR_CHAT_FACE_DETECTOR_URL", server.url(TFLITE))
        models, avatars = tmp_path / "models", tmp_path / "avatars"
        argv = ["avatar", "prepare", str(PORTRAIT), "--name", "astro"]
        dirs = ["--avatars-dir", str(avatars), "--models-dir", str(models)]
        assert main([*argv, *dirs]) == 0
        err = capsys.readouterr().err
        assert f"fetching {DETECTOR} (first use) from {server.url(TFLITE)}" in err
        assert f"{DETECTOR}: 100%" in err  # the download's progress bar
        assert sha256_file(models / TFLITE) == REGISTRY[DETECTOR].sha256
        assert AvatarPack.load(avatars, "astro").meta["detector"]["model"] == TFLITE
        assert main([*argv[:-1], "again", *dirs]) == 0
        assert server.requests == [f"/{TFLITE}"]  # fetched once, then found
    finally:
        server.close()


def test_offline_prepare_names_the_file_and_the_command_that_installs_it(
    tmp_path, shared_models, capsys
):
    models = tmp_path / "models"
    argv = ["avatar", "prepare", str(PORTRAIT), "--name", "astro"]
    dirs = ["--avatars-dir", str(tmp_path / "avatars"), "--models-dir", str(models)]
    assert main([*argv, *dirs]) == 1
    err = capsys.readouterr().err
    assert str(models / TFLITE) in err and UNREACHABLE in err
    command = f"avatar-chat models fetch {DETECTOR} --from-file PATH/{TFLITE} --models-dir {models}"
    assert command in err
    assert not (tmp_path / "avatars" / "astro").exists()
    assert [p.name for p in models.iterdir()] == []  # no partial download left

    # That very command, with PATH filled in, installs the local copy; prepare then works.
    installed = command.replace("PATH", str(shared_models)).split()[1:]
    assert main(installed) == 0
    assert main([*argv, *dirs]) == 0


def test_empty_avatar_list_says_how_to_make_one(tmp_path, capsys):
    assert main(["avatar", "list", "--avatars-dir", str(tmp_path)]) == 0
    assert "avatar-chat avatar prepare" in capsys.readouterr().out


def test_models_list_and_fetch_from_file(tmp_path, shared_models, capsys):
    assert main(["models", "list", "--models-dir", str(shared_models)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert " yes " in lines[DETECTOR] and TFLITE in lines[DETECTOR]
    assert "Apache-2.0" in lines[DETECTOR]
    assert " no " in lines["wav2lip"] and "non-commercial" in lines["wav2lip"]

    models = tmp_path / "models"
    source = shared_models / TFLITE
    argv = ["models", "fetch", DETECTOR, "--from-file", str(source)]
    assert main([*argv, "--models-dir", str(models)]) == 0
    assert (models / TFLITE).read_bytes() == source.read_bytes()
    assert f"installed {DETECTOR}" in capsys.readouterr().out
    assert main(["models", "fetch", DETECTOR, "--models-dir", str(models)]) == 0
    assert "already at" in capsys.readouterr().out
    assert main(["models", "fetch", "silero_vad", "--models-dir", str(models)]) == 2
    assert main(["models", "fetch", "nosuch", "--models-dir", str(models)]) == 2
    # The registry URL (here: unreachable) is tried when nothing else is given.
    assert main(["models", "fetch", DETECTOR, "--force", "--models-dir", str(models)]) == 1
    assert UNREACHABLE in capsys.readouterr().err
    assert (models / TFLITE).read_bytes() == source.read_bytes()  # the installed one is kept
