# The mfa service: `mfa serve` on port 8000, as a non-root user.
# Build: docker build -t mfa .   Run with PostgreSQL and Redis: see compose.yaml.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mfa ./mfa
COPY transports ./transports
# Wheels of mfa and every dependency, so the final image needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[redis,postgres,twilio]'

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'mfa[redis,postgres,twilio]' \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/mfa mfa
USER mfa
WORKDIR /var/lib/mfa
EXPOSE 8000
# Readiness, not just liveness: Redis and the database must answer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["mfa"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
