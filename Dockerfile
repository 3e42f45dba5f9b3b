# Runtime image: the base + serve + batch install (the API, and `triage score` for every file type)
# and the bundled default model; no torch.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TRIAGE_THREADS=2
WORKDIR /app
COPY pyproject.toml README.md ./
COPY classifier ./classifier
COPY serving ./serving
COPY training ./training
COPY configs ./configs
COPY data/lexicon ./data/lexicon
COPY models/default ./models/default
RUN pip install --no-cache-dir ".[serve,batch]"
EXPOSE 8000
# DATABASE_URL selects PostgreSQL; the default is an SQLite file under /app/var
CMD ["triage", "serve", "--host", "0.0.0.0", "--port", "8000", "--bundle", "models/default"]
