"""All configuration, read once from environment variables that start with ``CHAT_``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

PREFIX = "CHAT_"
LOG_FORMATS = ("text", "json")
_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "your-secret-here", "xxx"})


class SettingsError(ValueError):
    """The environment does not describe a configuration that can run; the message says which variable."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}, got {value}.")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}.") from None
    if value <= 0:
        raise SettingsError(f"{PREFIX}{name} must be greater than 0, got {value}.")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(PREFIX + name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{PREFIX}{name} must be true or false, got {raw!r}.")


def _str(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(PREFIX + name, "").strip()
    return raw or None


@dataclass(frozen=True)
class Settings:
    """Everything the app can be told; see the README's configuration table."""

    dynamodb_endpoint: str | None = None
    aws_region: str = "us-east-1"
    table_prefix: str = ""
    redis_url: str | None = None
    storage_secret: str | None = None
    room: str = "lobby"
    page_size: int = 30
    max_message_length: int = 2000
    view_max_messages: int = 300
    session_ttl_seconds: int = 86_400
    rate_per_second: float = 5.0
    rate_burst: int = 10
    catchup_interval_seconds: float = 15.0
    host: str = "127.0.0.1"
    port: int = 8080
    native: bool = False
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    log_format: str = "text"
    metrics_public: bool = False

    @property
    def embedded(self) -> bool:
        """No Redis configured: run moto and fakeredis in-process (data lives in memory)."""
        return self.redis_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every ``CHAT_*`` variable; raise SettingsError naming the first wrong one."""
        env = os.environ if env is None else env
        redis_url = _str(env, "REDIS_URL")
        endpoint = _str(env, "DYNAMODB_ENDPOINT")
        if redis_url is None and endpoint is not None:
            raise SettingsError(
                "CHAT_DYNAMODB_ENDPOINT is set but CHAT_REDIS_URL is not: set both, or neither for embedded mode."
            )
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"CHAT_REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}.")
        secret = _str(env, "STORAGE_SECRET")
        if secret is not None and secret.lower() in _PLACEHOLDER_SECRETS:
            raise SettingsError("CHAT_STORAGE_SECRET is a placeholder; set it to a long random string.")
        if redis_url is not None and secret is None:
            raise SettingsError(
                "CHAT_STORAGE_SECRET is required outside embedded mode (it signs the browser's session cookie); "
                'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        log_format = (_str(env, "LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"CHAT_LOG_FORMAT must be text or json, got {log_format!r}.")
        origins = tuple(o.strip().rstrip("/") for o in env.get(PREFIX + "ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            dynamodb_endpoint=endpoint,
            aws_region=_str(env, "AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            table_prefix=env.get(PREFIX + "TABLE_PREFIX", "").strip(),
            redis_url=redis_url,
            storage_secret=secret,
            room=_str(env, "ROOM") or "lobby",
            page_size=_int(env, "PAGE_SIZE", 30),
            max_message_length=_int(env, "MAX_MESSAGE_LENGTH", 2000),
            view_max_messages=_int(env, "VIEW_MAX_MESSAGES", 300, minimum=10),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", 86_400, minimum=60),
            rate_per_second=_float(env, "RATE_PER_SECOND", 5.0),
            rate_burst=_int(env, "RATE_BURST", 10),
            catchup_interval_seconds=_float(env, "CATCHUP_INTERVAL_SECONDS", 15.0),
            host=_str(env, "HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080, minimum=0),
            native=_bool(env, "NATIVE"),
            allowed_origins=origins,
            log_format=log_format,
            metrics_public=_bool(env, "METRICS_PUBLIC"),
        )
