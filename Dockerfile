# syntax=docker/dockerfile:1
# feedback-triage runtime image: the API (`triage serve`), `triage score` for every file type and `triage
# report`, with the shipped default bundle; no torch. From the repository root:
#     docker build -t feedback-triage .
#     docker run -p 8000:8000 -v triage-data:/var/lib/triage feedback-triage
# Configured only through TRIAGE_* variables (README, "Configuration"); deploy/ has compose and Kubernetes files.

# Pinned to a patch release; pin the digest as well (python:3.11.14-slim-trixie@sha256:…) where the
# registry is reachable, so a rebuild cannot pick up a different base.
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie

# --- build: a virtual environment holding the package, its exact dependencies and the bundle -----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/constraints.txt deploy/constraints.txt
COPY classifier classifier
COPY serving serving
COPY training training
COPY configs configs
COPY models/default models/default
COPY data/LABELING.md data/LABELING.md
# tests/test_deploy.py runs this stage's RUN lines, exactly, in a fresh virtualenv and starts the service.
RUN python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir -c deploy/constraints.txt ".[serve,batch,report]"

# --- runtime: the virtual environment alone, as an unprivileged user -------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 triage \
 && useradd --system --uid 10001 --gid triage --home-dir /var/lib/triage --shell /usr/sbin/nologin triage \
 && mkdir -p /var/lib/triage \
 && chown triage:triage /var/lib/triage
COPY --from=build /opt/venv /opt/venv
# The bundle and rule files are found in /opt/venv/share/feedback-triage (classifier/resources.py).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRIAGE_HOST=0.0.0.0 \
    TRIAGE_PORT=8000 \
    TRIAGE_DATABASE_URL=sqlite:////var/lib/triage/triage.db
WORKDIR /var/lib/triage
# The SQLite default lives here; with PostgreSQL (TRIAGE_DATABASE_URL=postgresql://…) nothing is written.
VOLUME ["/var/lib/triage"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRIAGE_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["triage", "serve"]
