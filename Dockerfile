# The sinchchat web app. Build: docker build -t sinchchat .
# It needs a DynamoDB endpoint and a Redis (see docker-compose.yaml).
FROM python:3.11-slim

ARG UV_VERSION=0.13.9

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first, so that code changes do not invalidate this layer. Only the project's own: no dev tools
# and no embedded backends (moto, fakeredis), which the default groups bring to a clone; the image always runs
# against real services.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-default-groups --no-install-project

COPY main.py ./
COPY chat ./chat
COPY components ./components

# The code and the virtual environment stay owned by root; the app may write only its
# NiceGUI storage folder.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/.nicegui \
    && chown app:app /app/.nicegui

USER app

ENV PATH="/app/.venv/bin:${PATH}" \
    NICEGUI_STORAGE_PATH=/app/.nicegui \
    CHAT_HOST=0.0.0.0 \
    CHAT_PORT=8080

EXPOSE 8080

# readiness: DynamoDB and Redis answer and the subscriber is subscribed (/api/health only says the process runs)
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/ready', timeout=4)"]

# the app finishes its in-flight posts and closes its sockets on SIGTERM (docker stop)
STOPSIGNAL SIGTERM

CMD ["python", "main.py"]
