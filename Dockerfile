# Vani's image: one image for every process; deploy/entrypoint.sh ROLE picks which (web unless told).
#   docker build -t vani .
#   docker run --env-file .env vani worker --queue vani-deliveries --queue vani-backfills
# compose.yaml runs the whole deployment from it; docs/deploy.md (Containers) says how.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The pinned dependencies, each checked against its hash (requirements.lock), in a layer of their own.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
 && pip install --require-hashes -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock

RUN useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin vani
WORKDIR /app
# The code belongs to root: the processes (user vani) read it and write nowhere in it.
COPY . /app
RUN python -m compileall -q /app/vani /app/migrations

# Production unless told otherwise, listening on every address of the container; each process's
# metrics in a folder of its own container (compose.yaml mounts a fresh one at every start).
ENV VANI_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/vani-metrics

USER vani
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/deploy/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
