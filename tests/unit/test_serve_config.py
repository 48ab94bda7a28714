"""The shipped Serve config files: typed args, and deployments the app really builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve import Application

from config import Settings
from serve_app import app as app_module

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ["serve_config.yaml", "serve_config.wav2lip.yaml"]


def deployment_names(app: Application) -> set[str]:
    names, stack = set(), [app]
    while stack:
        bound = stack.pop()._bound_deployment
        names.add(bound.name)
        args = (*bound.init_args, *bound.init_kwargs.values())
        stack += [a for a in args if isinstance(a, Application)]
    return names


@pytest.fixture(params=CONFIGS)
def config(request) -> dict:
    return yaml.safe_load((ROOT / request.param).read_text())


def test_args_are_valid_settings(config):
    (entry,) = config["applications"]
    assert entry["import_path"] == "serve_app.app:build_app"
    Settings.model_validate(entry["args"])  # raises, naming the field, on a bad value


def test_every_listed_deployment_exists_and_fits_a_laptop(config, monkeypatch):
    (entry,) = config["applications"]
    settings = Settings.model_validate(entry["args"])
    if settings.avatar.kind == "wav2lip":  # as on a machine with the weights and the pack
        monkeypatch.setattr("serve_app.wav2lip_avatar.unavailable_reason", lambda s: None)
    built = deployment_names(app_module.build_app(entry["args"]))
    listed = {d["name"] for d in entry["deployments"]}
    assert listed <= built, f"{sorted(listed - built)} are not in the app"
    for d in entry["deployments"]:
        cpus = d.get("ray_actor_options", {}).get("num_cpus")
        assert cpus is not None and 0 < cpus <= 1, d["name"]
