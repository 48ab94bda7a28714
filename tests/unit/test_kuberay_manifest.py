"""deploy/kuberay/rayservice.yaml: what Kubernetes, KubeRay and Serve would accept, and how far
it may differ from serve_config.yaml.

There is no Kubernetes here, so the manifest is checked against the RayService CRD's
``openAPIV3Schema`` (the operator's own file, in the shared test material) with jsonschema,
after turning the Kubernetes extensions of OpenAPI into JSON Schema that bites: unknown fields
are refused (as ``kubectl apply``'s strict field validation does), ``x-kubernetes-int-or-string``
takes an integer or a string, ``int32``/``int64`` are range-checked, and map-like lists
(``x-kubernetes-list-type: map``) refuse two items with the same keys. A few rules KubeRay checks
in its operator rather than in the schema are checked here too. Its ``serveConfigV2`` is
validated with Serve's own schema, then compared with serve_config.yaml: they may differ only
in the cluster additions that the manifest documents (``CLUSTER_ADDITIONS`` below).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement
from ray.serve.schema import ServeDeploySchema

from config import Settings
from serve_app import app as app_module
from serve_app.deployments import avatar as avatar_module
from tests.app_graph import bound_deployments
from tests.shared import SHARED

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
CRD = SHARED / "data" / "kuberay" / "ray.io_rayservices.yaml"

# What the manifest's serveConfigV2 comment lists as its only differences from serve_config.yaml.
CLUSTER_ADDITIONS = {
    "application keys": {"runtime_env"},  # 1. installs the project on every node
    "args": {"avatar": {"kind": "wav2lip", "name": "astro"}},  # 2. the photoreal avatar
    "deployment options": {"Avatar": {"max_ongoing_requests": 16}},  # 3. Wav2Lip streams
    "deployments": {"LipSync", "ASR"},  # 4. with GPUs and autoscaling
}
GPU_DEPLOYMENTS = {"LipSync", "ASR"}
LLM_SECRET = "avatar-chat-llm"
SECRET_VARS = {"OPENAI_API_KEY", "AVATAR_CHAT_TOKEN"}  # never a literal value anywhere
MODELS_VOLUME = "avatar-chat-models"
MAX_RAYSERVICE_NAME = 47  # KubeRay: 63 minus "-serve-svc", minus the cluster's own suffix
RAY_START_RESOURCE_KEYS = ("num-cpus", "num-gpus", "memory", "resources")


# --- OpenAPI v3 (Kubernetes structural schema) -> JSON Schema -------------------------------


def to_json_schema(node):
    """A copy of a Kubernetes structural schema that jsonschema enforces as the API server does.

    - An object schema with ``properties`` gets ``additionalProperties: false`` unless it
      preserves unknown fields: the API server drops unknown fields, and ``kubectl apply``
      (strict field validation, its default) refuses them.
    - ``x-kubernetes-int-or-string: true`` becomes ``anyOf: [integer, string]`` where the schema
      does not already say so (controller-gen writes both; a hand-written CRD may not).
    - ``nullable: true`` lets ``null`` through.
    - The ``x-kubernetes-list-*`` keys and ``format`` stay, for the extra checks in
      ``structural_validator``.
    """
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: to_json_schema(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "allOf", "oneOf"):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _list_map_keys(validator, keys, instance, schema):
    """``x-kubernetes-list-type: map``: no two items share their keys (absent key: its default)."""
    if schema.get("x-kubernetes-list-type") != "map" or not validator.is_type(instance, "array"):
        return
    props = schema.get("items", {}).get("properties", {})
    seen = {}
    for index, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        ident = tuple(item.get(k, props.get(k, {}).get("default")) for k in keys)
        if ident in seen:
            yield jsonschema.ValidationError(
                f"items {seen[ident]} and {index} have the same {'/'.join(keys)} {ident}"
            )
        seen.setdefault(ident, index)


def _list_type(validator, list_type, instance, schema):
    """``x-kubernetes-list-type: set``: items are unique."""
    if list_type == "set" and validator.is_type(instance, "array"):
        yield from validator.descend(instance, {"uniqueItems": True})


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("int32")
def _int32(value) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


StructuralValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {"x-kubernetes-list-map-keys": _list_map_keys, "x-kubernetes-list-type": _list_type},
)


def structural_validator(openapi_schema: dict) -> jsonschema.protocols.Validator:
    schema = to_json_schema(openapi_schema)
    StructuralValidator.check_schema(schema)
    return StructuralValidator(schema, format_checker=FORMATS)


def errors(validator, document) -> list[str]:
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_v1() -> dict:
    assert CRD.is_file(), f"the RayService CRD is missing from the shared material: {CRD}"
    crd = yaml.safe_load(CRD.read_text())
    assert crd["spec"]["names"]["kind"] == "RayService"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


@pytest.fixture(scope="module")
def validator(crd_v1):
    return structural_validator(crd_v1)


@pytest.fixture(scope="module")
def manifest_text() -> str:
    return MANIFEST.read_text()


@pytest.fixture
def manifest(manifest_text) -> dict:
    (document,) = list(yaml.safe_load_all(manifest_text))
    return document


@pytest.fixture
def serve_config(manifest) -> dict:
    config = manifest["spec"]["serveConfigV2"]
    assert isinstance(config, str), "serveConfigV2 is a string holding YAML"
    return yaml.safe_load(config)


@pytest.fixture
def cluster_app(serve_config) -> dict:
    (app,) = serve_config["applications"]
    return app


@pytest.fixture(scope="module")
def local_config() -> dict:
    return yaml.safe_load((ROOT / "serve_config.yaml").read_text())


def cluster_spec(manifest) -> dict:
    return manifest["spec"]["rayClusterConfig"]


def groups(manifest) -> Iterator[tuple[str, dict]]:
    """(group name, group spec), the head first."""
    spec = cluster_spec(manifest)
    yield "head", spec["headGroupSpec"]
    for group in spec["workerGroupSpecs"]:
        yield group["groupName"], group


def ray_containers(manifest) -> Iterator[tuple[str, dict]]:
    """(group name, the Ray container: the first one, as KubeRay takes it)."""
    for name, group in groups(manifest):
        yield name, group["template"]["spec"]["containers"][0]


def deployments_by_name(app: dict) -> dict[str, dict]:
    return {d["name"]: d for d in app.get("deployments", [])}


def merged(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


# --- (a) the CRD ---------------------------------------------------------------------------


def test_manifest_is_a_valid_rayservice(manifest, validator):
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] == "RayService"
    assert errors(validator, manifest) == []


def _wrong_type(m):
    cluster_spec(m)["workerGroupSpecs"][0]["minReplicas"] = "one"


def _ray_start_param_not_a_string(m):
    cluster_spec(m)["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0


def _unknown_group_field(m):
    cluster_spec(m)["workerGroupSpecs"][1]["gpus"] = 1


def _unknown_container_field(m):
    cluster_spec(m)["headGroupSpec"]["template"]["spec"]["containers"][0]["envs"] = []


def _missing_template(m):
    del cluster_spec(m)["headGroupSpec"]["template"]


def _missing_group_name(m):
    del cluster_spec(m)["workerGroupSpecs"][0]["groupName"]


def _missing_rayclusterconfig(m):
    del m["spec"]["rayClusterConfig"]


def _quantity_not_int_or_string(m):
    container = cluster_spec(m)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["cpu"] = [4]


def _quantity_malformed(m):
    container = cluster_spec(m)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["memory"] = "eight gigs"


def _int32_overflow(m):
    cluster_spec(m)["workerGroupSpecs"][0]["maxReplicas"] = 2**31


def _duplicate_env_name(m):
    container = cluster_spec(m)["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["env"] = [*container["env"], {"name": "OPENAI_API_KEY", "value": "x"}]


def _duplicate_port(m):
    container = cluster_spec(m)["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["ports"] = [*container["ports"], {"containerPort": 8000, "name": "again"}]


def _serve_config_not_a_string(m):
    m["spec"]["serveConfigV2"] = yaml.safe_load(m["spec"]["serveConfigV2"])


BROKEN = {
    "wrong type (minReplicas 'one')": (_wrong_type, "minReplicas"),
    "rayStartParams value not a string": (_ray_start_param_not_a_string, "num-cpus"),
    "unknown field in a worker group": (_unknown_group_field, "gpus"),
    "unknown field in a container": (_unknown_container_field, "envs"),
    "missing required template": (_missing_template, "template"),
    "missing required groupName": (_missing_group_name, "groupName"),
    "missing required rayClusterConfig": (_missing_rayclusterconfig, "rayClusterConfig"),
    "quantity neither int nor string": (_quantity_not_int_or_string, "cpu"),
    "quantity string malformed": (_quantity_malformed, "eight gigs"),
    "int32 out of range": (_int32_overflow, "maxReplicas"),
    "two env vars of one name": (_duplicate_env_name, "OPENAI_API_KEY"),
    "two ports 8000/TCP": (_duplicate_port, "8000"),
    "serveConfigV2 not a string": (_serve_config_not_a_string, "serveConfigV2"),
}


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_a_broken_copy_fails_validation(manifest, validator, breakage):
    # Each breakage alone makes the manifest invalid, and the error names what broke: the
    # validator is shown to bite on types, unknown fields, required fields, quantities,
    # integer formats and map-like lists.
    breaker, named = BROKEN[breakage]
    broken = copy.deepcopy(manifest)
    breaker(broken)
    found = errors(validator, broken)
    assert found, f"{breakage}: accepted"
    assert any(named in e for e in found), found


def test_int_or_string_quantities_take_both_forms(manifest, validator):
    # The other side of the translation: plain numbers and quantity strings are both fine.
    fine = copy.deepcopy(manifest)
    limits = cluster_spec(fine)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    limits["resources"]["limits"].update(cpu=4, memory="8Gi")
    assert errors(validator, fine) == []


def test_int_or_string_without_anyof_is_translated():
    v = structural_validator(
        {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": True}}}
    )
    assert errors(v, {"port": 8000}) == errors(v, {"port": "serve"}) == []
    assert errors(v, {"port": 1.5}) and errors(v, {"port": [8000]}) and errors(v, {"x": 1})


def test_fields_with_cel_rules_are_not_set(manifest, crd_v1):
    # x-kubernetes-validations (CEL) cannot be evaluated here; the manifest stays clear of
    # every field that has one, so none of them can reject it.
    def cel_paths(node, path=()):
        if isinstance(node, dict):
            if "x-kubernetes-validations" in node:
                yield path
            for name, sub in node.get("properties", {}).items():
                yield from cel_paths(sub, (*path, name))

    def count_rules(node):
        if isinstance(node, dict):
            return ("x-kubernetes-validations" in node) + sum(map(count_rules, node.values()))
        return sum(map(count_rules, node)) if isinstance(node, list) else 0

    paths = list(cel_paths(crd_v1))
    assert paths, "the CRD has no CEL rules any more: drop this test"
    assert len(paths) == count_rules(crd_v1), "a CEL rule sits inside a list item: look there too"
    for path in paths:
        node = manifest
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
        assert node is None, f"{'.'.join(path)} is set but its CEL rule is not checked"


def test_kuberay_operator_rules(manifest):
    # What the operator (and its webhook) refuses beyond the schema.
    name = manifest["metadata"]["name"]
    assert len(name) <= MAX_RAYSERVICE_NAME and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)
    spec = cluster_spec(manifest)
    assert spec["enableInTreeAutoscaling"] is True
    for group_name, group in groups(manifest):
        params = group.get("rayStartParams", {})
        assert not (group.get("resources") and any(k in params for k in RAY_START_RESOURCE_KEYS))
        assert "labels" not in params, group_name
        assert group["template"]["spec"]["containers"], group_name
    for group in spec["workerGroupSpecs"]:
        lo, hi = group["minReplicas"], group["maxReplicas"]
        assert 0 <= lo <= group.get("replicas", lo) <= hi, group["groupName"]
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert len(set(names)) == len(names)


def test_head_runs_no_replicas(manifest):
    head = cluster_spec(manifest)["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # nothing with num_cpus > 0 lands there
    assert manifest["spec"]["excludeHeadPodFromServeSvc"] is True


def test_images_are_the_official_ones_for_the_ray_version(manifest):
    version = cluster_spec(manifest)["rayVersion"]
    for group_name, container in ray_containers(manifest):
        gpu = group_name == "gpu"
        expected = f"rayproject/ray:{version}-py311{'-gpu' if gpu else ''}"
        assert container["image"] == expected, group_name
    assert version.startswith(f"{ray.__version__.rsplit('.', 1)[0]}."), (
        "the cluster runs another Ray minor version than the one these tests validate with"
    )


def test_serve_port_is_8000_everywhere(manifest, serve_config, local_config):
    head = cluster_spec(manifest)["headGroupSpec"]["template"]["spec"]["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in head["ports"]}
    assert ports["serve"] == serve_config["http_options"]["port"] == 8000
    assert local_config["http_options"]["port"] == 8000


# --- (b) serveConfigV2 is a Serve config -----------------------------------------------------


def test_serve_config_is_valid_for_serve(serve_config, local_config):
    ServeDeploySchema.model_validate(serve_config)
    ServeDeploySchema.model_validate(local_config)
    assert not ray.is_initialized()  # Serve's schema is pydantic only: no Ray was started


def test_runtime_env_installs_the_project_from_an_archive(cluster_app):
    runtime_env = cluster_app["runtime_env"]
    assert "working_dir" not in runtime_env  # the pip install brings the code (see the comment)
    (spec,) = runtime_env["pip"]
    requirement = Requirement(spec)
    assert requirement.name == "avatar-chat" and not requirement.extras
    assert re.fullmatch(r"https://\S+\.zip", requirement.url), requirement.url
    assert runtime_env["config"]["setup_timeout_seconds"] > 600  # Ray's default is 600 s
    assert "env_vars" not in runtime_env  # the environment comes from the pods (secrets)


# --- (c) serve_config.yaml's application, plus the documented cluster additions -------------


def test_top_level_settings_are_serve_configs(serve_config, local_config):
    def without_apps(config):
        return {k: v for k, v in config.items() if k != "applications"}

    assert without_apps(serve_config) == without_apps(local_config)


def test_application_is_serve_configs_plus_the_cluster_additions(cluster_app, local_config):
    (local_app,) = local_config["applications"]
    cluster, expected = copy.deepcopy(cluster_app), copy.deepcopy(local_app)

    assert set(cluster) - set(expected) == CLUSTER_ADDITIONS["application keys"]
    for key in CLUSTER_ADDITIONS["application keys"]:
        del cluster[key]

    args = CLUSTER_ADDITIONS["args"]
    assert merged(expected["args"], args) != expected["args"], "a listed change changes nothing"
    expected["args"] = merged(expected["args"], args)

    cluster_deps = deployments_by_name(cluster)
    local_deps = deployments_by_name(expected)
    assert set(cluster_deps) == set(local_deps) | CLUSTER_ADDITIONS["deployments"]
    assert not set(local_deps) & CLUSTER_ADDITIONS["deployments"]
    for name, options in CLUSTER_ADDITIONS["deployment options"].items():
        assert merged(local_deps[name], options) != local_deps[name], name
        local_deps[name] = merged(local_deps[name], options)
    assert {n: cluster_deps[n] for n in local_deps} == local_deps

    # The rest, in serve_config.yaml's order, and nothing else.
    cluster["deployments"] = [d for d in cluster["deployments"] if d["name"] in local_deps]
    expected["deployments"] = [local_deps[d["name"]] for d in expected["deployments"]]
    assert cluster == expected


def test_every_deployment_the_cluster_app_binds_is_configured(cluster_app, monkeypatch):
    # As on a cluster whose volume holds the Wav2Lip model: the app then binds LipSync, and a
    # listed deployment it did not bind would make Serve refuse the whole config.
    Settings.model_validate(cluster_app["args"])
    monkeypatch.setattr(avatar_module, "weights_missing", lambda settings: None)
    built = bound_deployments(app_module.build_app(cluster_app["args"]))
    assert set(deployments_by_name(cluster_app)) == set(built)
    assert built["Avatar"].max_ongoing_requests == 16  # the code's own Wav2Lip value
    assert not ray.is_initialized()


# --- (d) the LLM key comes from a Secret --------------------------------------------------


def test_llm_key_comes_from_the_secret_in_every_pod(manifest):
    for group_name, container in ray_containers(manifest):
        env = {e["name"]: e for e in container["env"]}
        key = env["OPENAI_API_KEY"]
        assert "value" not in key, group_name
        assert key["valueFrom"] == {
            "secretKeyRef": {"name": LLM_SECRET, "key": "OPENAI_API_KEY"}
        }, group_name


def test_no_secret_is_written_in_the_manifest(manifest, manifest_text, cluster_app):
    for group_name, group in groups(manifest):
        pod = group["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            for entry in container.get("env", []):
                if entry["name"] in SECRET_VARS:
                    assert "value" not in entry, (group_name, entry["name"])
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["name"] == LLM_SECRET, (group_name, entry["name"])
            assert not container.get("envFrom"), group_name  # keep every variable explicit
    assert not set(cluster_app["runtime_env"].get("env_vars", {})) & SECRET_VARS
    assert "api_key" not in cluster_app["args"].get("llm", {})
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{8,}", manifest_text), "an API key is written in"


# --- (e) GPUs where the models are ---------------------------------------------------------


def test_gpu_group_requests_a_gpu(manifest):
    ((_, gpu),) = [(n, g) for n, g in groups(manifest) if n == "gpu"]
    container = gpu["template"]["spec"]["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == 1
    for name, group in groups(manifest):
        if name != "gpu":
            limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
            assert "nvidia.com/gpu" not in limits, name


def test_lipsync_and_asr_ask_for_gpus_and_nothing_else_does(cluster_app):
    for name, deployment in deployments_by_name(cluster_app).items():
        gpus = deployment.get("ray_actor_options", {}).get("num_gpus", 0)
        if name in GPU_DEPLOYMENTS:
            assert 0 < gpus <= 1, name
        else:
            assert gpus == 0, name


def _cpus(quantity) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_the_gpu_group_can_hold_its_replicas(manifest, cluster_app):
    # At min_replicas the GPU deployments fit the group's minimum pods, at max_replicas its
    # maximum, each replica's CPUs fit one pod: the autoscaler can place every replica.
    ((_, gpu),) = [(n, g) for n, g in groups(manifest) if n == "gpu"]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    gpus_per_pod = int(limits["nvidia.com/gpu"])
    deps = deployments_by_name(cluster_app)
    for bound, pods in (("min_replicas", gpu["minReplicas"]), ("max_replicas", gpu["maxReplicas"])):
        wanted = sum(
            deps[n]["autoscaling_config"][bound] * deps[n]["ray_actor_options"]["num_gpus"]
            for n in GPU_DEPLOYMENTS
        )
        assert wanted <= pods * gpus_per_pod, bound
    for n in GPU_DEPLOYMENTS:
        assert deps[n]["ray_actor_options"]["num_cpus"] <= _cpus(limits["cpu"]), n


def test_every_pod_sees_the_models_volume(manifest):
    # Serve may build the app on any node (the build checks that the Wav2Lip model is there),
    # and Avatar, LipSync and ASR replicas read packs and models wherever they are placed.
    for group_name, group in groups(manifest):
        pod = group["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == MODELS_VOLUME]
        assert volume["persistentVolumeClaim"]["claimName"] == MODELS_VOLUME
        container = pod["containers"][0]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == MODELS_VOLUME]
        env = {e["name"]: e.get("value") for e in container["env"]}
        for var in ("AVATAR_CHAT_MODELS_DIR", "AVATAR_CHAT_AVATARS_DIR"):
            assert Path(env[var]).is_relative_to(mount["mountPath"]), (group_name, var)
