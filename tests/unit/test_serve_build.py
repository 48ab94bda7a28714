"""``serve build``: why it refuses ``build_app``, and the bound app it takes instead.

``serve build IMPORT_PATH`` imports the path and needs a bound ``Application``; it neither calls
builder functions nor takes ``args``. It needs no cluster either: it only builds the
deployment graph. Each run here is the real command (Ray's ``serve`` CLI) in a subprocess whose
``ray.init`` is made to fail, so a build that started Ray would fail the test instead.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.serve import Application
from ray.serve.schema import ServeDeploySchema

from serve_app import app as app_module

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BOUND_APP = "serve_app.default_app:app"

# The `serve` console script, with ray.init replaced by a failure.
SERVE_WITHOUT_RAY = """
import sys
import ray
import ray._private.worker as worker

def refuse(*args, **kwargs):
    raise SystemExit("serve build tried to start or join Ray")

ray.init = worker.init = refuse
from ray.serve.scripts import cli
cli(sys.argv[1:], prog_name="serve")
"""


def serve(*args: str) -> subprocess.CompletedProcess:
    # The settings come from the environment too: leave out the developer's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AVATAR_CHAT_"))}
    return subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_RAY, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def deployment_names(app: Application) -> set[str]:
    found, stack = set(), [app]
    while stack:
        bound = stack.pop()._bound_deployment
        found.add(bound.name)
        args = (*bound.init_args, *bound.init_kwargs.values())
        stack += [a for a in args if isinstance(a, Application)]
    return found


@pytest.fixture(scope="module")
def local_config() -> dict:
    return yaml.safe_load((ROOT / "serve_config.yaml").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("serve_build") / "config.yaml"
    result = serve("build", BOUND_APP, "-o", str(out))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(out.read_text())


def test_serve_build_refuses_the_builder_function():
    # The failure the issue reports. If a Ray release learns to call builders here, this fails
    # and serve_app/default_app.py may no longer be needed.
    result = serve("build", "serve_app.app:build_app")
    assert result.returncode != 0
    assert "Expected 'serve_app.app:build_app' to be an Application" in result.stderr
    assert "tried to start or join Ray" not in result.stderr + result.stdout


def test_serve_build_of_the_bound_app_is_a_valid_config(built):
    ServeDeploySchema.model_validate(built)
    (app,) = built["applications"]
    assert app["import_path"] == BOUND_APP
    assert app["route_prefix"] == "/"
    assert "args" not in app  # settings: the code's defaults and the environment


def test_its_deployments_are_those_of_serve_config(built, local_config):
    (app,) = built["applications"]
    (local,) = local_config["applications"]
    names = {d["name"] for d in app["deployments"]}
    # Every deployment the app binds, the ones serve_config.yaml configures among them (ASR
    # too, which serve_config.yaml leaves to the code's defaults).
    assert names == deployment_names(app_module.build_app(local["args"]))
    assert {d["name"] for d in local["deployments"]} <= names
    for deployment in app["deployments"]:
        assert 0 < deployment["ray_actor_options"]["num_cpus"] <= 1, deployment["name"]


def test_serve_configs_settings_apply_to_the_built_config(built, local_config):
    # The workflow serve build is for: generate, then edit. serve_config.yaml's deployment
    # settings, put over the generated ones, still make a config Serve accepts.
    (app,) = built["applications"]
    (local,) = local_config["applications"]
    overrides = {d["name"]: d for d in local["deployments"]}
    app["deployments"] = [{**d, **overrides.get(d["name"], {})} for d in app["deployments"]]
    for key in ("proxy_location", "http_options"):
        built[key] = local_config[key]
    ServeDeploySchema.model_validate(built)


def test_serve_run_of_the_built_config_gets_an_application(built):
    # Serve's build task (serve run, serve deploy) imports the config's import_path and, with
    # no args, deploys an Application found there as it is.
    (app,) = built["applications"]
    module, _, name = app["import_path"].partition(":")
    target = getattr(importlib.import_module(module), name)
    assert isinstance(target, Application)
    assert deployment_names(target) == {d["name"] for d in app["deployments"]}
