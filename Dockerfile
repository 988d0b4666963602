# Task image for running prsgazer's Flyte workflows on a cluster (docs/cluster.md).
# Build and push:  docker build -t <registry>/prsgazer:<tag> . && docker push <registry>/prsgazer:<tag>
# then set PRSGAZER_IMAGE=<registry>/prsgazer:<tag> where you launch runs.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends plink2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv

WORKDIR /app
# dependencies first (cached layer), from the committed lock file
COPY pyproject.toml uv.lock README.md ./
RUN UV_COMPILE_BYTECODE=1 uv sync --locked --no-dev --no-install-project
COPY src ./src
COPY bundles ./bundles
COPY .flyte ./.flyte
RUN UV_COMPILE_BYTECODE=1 uv sync --locked --no-dev

ENV PATH=/app/.venv/bin:$PATH \
    DO_NOT_TRACK=1 \
    FASTMCP_CHECK_FOR_UPDATES=off \
    MARIMO_SKIP_UPDATE_CHECK=1 \
    PRSGAZER_HOME=/tmp/prsgazer \
    PRSGAZER_CACHE_DIR=/tmp/prsgazer-cache
