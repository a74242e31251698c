# ais-watch: a multi-stage image. The build stage installs the package (the same `pip install` the
# Makefile runs, without the dev extras and not editable) into a virtualenv the runtime stage copies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY ais_watch ./ais_watch
# Top-level in the repository; setup.py maps them into the package (ais_watch/geofences, ais_watch/migrations).
COPY geofences ./geofences
COPY migrations ./migrations
RUN python -m venv /opt/ais-watch \
    && /opt/ais-watch/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/ais-watch/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 aiswatch \
    && mkdir -p /data /config && chown aiswatch /data /config
COPY --from=build /opt/ais-watch /opt/ais-watch
ENV PATH=/opt/ais-watch/bin:$PATH \
    AIS_WATCH_DB=sqlite:////data/ais-watch.db \
    AIS_WATCH_HTTP_HOST=0.0.0.0 \
    AIS_WATCH_HTTP_PORT=8080
# /data: the SQLite store (or use AIS_WATCH_DB=postgresql://...); /config: AIS_WATCH_CONFIG=/config/ais-watch.toml
VOLUME ["/data", "/config"]
USER aiswatch
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["ais-watch"]
CMD ["serve"]
