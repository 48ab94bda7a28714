"""The shipped Serve config files: typed args, and deployments the app really builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve import Application

from config import Settings
from serve_app import app as app_module
from serve_app.deployments import avatar as avatar_module
from tests.app_graph import bound_deployments

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ["serve_config.yaml", "serve_config.wav2lip.yaml"]


CI_CPUS = 2  # the CI machine, and a small laptop: the shipped files must place on it


def deployment_names(app: Application) -> set[str]:
    return set(bound_deployments(app))


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
        monkeypatch.setattr(avatar_module, "weights_missing", lambda s: None)
    built = deployment_names(app_module.build_app(entry["args"]))
    listed = {d["name"] for d in entry["deployments"]}
    assert listed <= built, f"{sorted(listed - built)} are not in the app"
    for d in entry["deployments"]:
        cpus = d.get("ray_actor_options", {}).get("num_cpus")
        assert cpus is not None and 0 < cpus <= 1, d["name"]


@pytest.mark.parametrize("kind", ["as shipped", "wav2lip"])
def test_the_app_at_its_smallest_and_all_sessions_fit_on_two_cores(config, kind, monkeypatch):
    # Serve cannot place a replica whose num_cpus do not fit: it waits for ever (the Ingress
    # of a Wav2Lip file once did, on 2 cores), and the server never answers. "wav2lip": the
    # same file with avatar.kind switched (README), so the code's own defaults count too;
    # its max_sessions is sized for the sprite, so there one session must fit, not all.
    (entry,) = config["applications"]
    args = dict(entry["args"])
    if kind == "wav2lip":
        args["avatar"] = {**args.get("avatar", {}), "kind": "wav2lip", "name": "astro"}
    settings = Settings.model_validate(args)
    if settings.avatar.kind == "wav2lip":
        monkeypatch.setattr(avatar_module, "weights_missing", lambda s: None)
    listed = {d["name"]: d for d in entry["deployments"]}
    reserved = {}
    for name, deployment in bound_deployments(app_module.build_app(args)).items():
        options = listed.get(name, {})
        cpus = options.get("ray_actor_options", {}).get(
            "num_cpus", deployment.ray_actor_options.get("num_cpus", 1)
        )
        replicas = options.get("autoscaling_config", {}).get(
            "min_replicas", options.get("num_replicas", 1)
        )
        reserved[name] = cpus * replicas
    server = settings.server
    sessions = server.max_sessions if kind == "as shipped" else 1
    reserved["sessions"] = (sessions + server.warm_sessions) * server.session_num_cpus
    assert sum(reserved.values()) <= CI_CPUS, reserved
