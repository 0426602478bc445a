# audience serve in a container: a slim Python, a non-root user, the data in a volume.
#   docker build -t audience .
#   docker run -p 8000:8000 -v audience-data:/var/lib/audience audience
# With PostgreSQL: compose.yaml. Settings are AUDIENCE_* variables (README, Configuration).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 audience \
 && useradd --system --uid 10001 --gid audience --home-dir /var/lib/audience --no-create-home \
      --shell /usr/sbin/nologin audience \
 && mkdir -p /var/lib/audience \
 && chown audience:audience /var/lib/audience \
 && chmod 0700 /var/lib/audience

WORKDIR /usr/src/audience
COPY pyproject.toml README.md ./
COPY src ./src
COPY packaging/install ./packaging/install
RUN packaging/install /opt/audience /usr/src/audience

ENV AUDIENCE_DATA_DIR=/var/lib/audience \
    AUDIENCE_HOST=0.0.0.0 \
    AUDIENCE_PORT=8000 \
    AUDIENCE_LOG_FORMAT=json

USER audience
WORKDIR /var/lib/audience
VOLUME ["/var/lib/audience"]
EXPOSE 8000

# Ready, not merely alive: the store commits and the resolver and dispatcher run (503 if not).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/opt/audience/bin/python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]

# audience serve stops within 15 s of SIGTERM (docker stop waits 10 s: use --time 20).
STOPSIGNAL SIGTERM
CMD ["/opt/audience/bin/audience", "serve"]
