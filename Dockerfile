# The agent-loop worker: `docker compose up --scale worker=3` runs three of these.
# Build context is the repository root; .dockerignore keeps local state (.venv, .env) out.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user: the worker needs no root, and an LLM-driven tool should not get it.
RUN useradd --create-home --uid 10001 agent

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# The package as users get it (not editable), with OpenTelemetry for AGENTIC_LOOP_TRACING.
RUN pip install ".[otel]" && rm -rf /app/src /app/build

USER agent
# The Prometheus endpoint (AGENTIC_LOOP_METRICS_ADDRESS); compose's health check reads it.
EXPOSE 9464

ENTRYPOINT ["agentic-loop"]
CMD ["worker"]
