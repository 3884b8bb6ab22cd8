# CryptoSmartTrader: the engine with its API (default), or the dashboard, from one image.
# Build: docker build -t cryptosmarttrader .   Run: docs/deploy.md (docker compose up).
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir "build>=1.2"
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m build --wheel --outdir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CST_HOME=/data \
    CST_API__HOST=0.0.0.0 \
    CST_DASHBOARD__HOST=0.0.0.0
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir -c /tmp/requirements.lock /tmp/*.whl \
    && rm /tmp/*.whl /tmp/requirements.lock \
    && useradd --create-home --uid 10001 cst \
    && mkdir /data && chown cst /data
USER cst
WORKDIR /home/cst
VOLUME ["/data"]
EXPOSE 8000 8501
# /health answers 503 when the engine stalls or the database is gone: the container turns
# unhealthy and the orchestrator restarts it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["cst"]
CMD ["run"]
