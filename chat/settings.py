"""All configuration, read once from environment variables that start with ``CHAT_``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .proxies import TrustedProxies

PREFIX = "CHAT_"
LOG_FORMATS = ("text", "json")
_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "your-secret-here", "xxx"})
# a signing secret that anyone who shares the deployment's files must not guess: 32 characters of a generated one
# ("password", a date, a name repeated) hold nowhere near the 128 bits a forged session cookie would need
MIN_SECRET_LENGTH = 32
_MIN_SECRET_DISTINCT = 10
_HOW_TO_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

# presence and typing (ephemeral: never stored in DynamoDB; see chat/presence.py and chat/presence_feed.py)
# each process writes its people of every room it shows to Redis, and tells the room's other processes, this often
PRESENCE_HEARTBEAT_SECONDS = 10.0
# ... and a process not heard from for this long (it died) no longer counts: two heartbeats and a margin
PRESENCE_EXPIRY_SECONDS = 25.0
# a process tells the others of a change in a room's people at most this often (a burst of tabs is one event)
PRESENCE_PUBLISH_SECONDS = 1.0
# the tabs of a room get at most one presence frame and one typing frame this often, whatever the churn
PRESENCE_EMIT_SECONDS = 1.0
# a typist is shown this long after their last typing event (the composer sends one every 3 s while typing)
TYPING_SECONDS = 5.0
# one typing event per author per room this often, whatever a client sends
TYPING_THROTTLE_SECONDS = 2.5


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


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in env.get(PREFIX + name, "").split(",") if part.strip()]


def _secret(env: Mapping[str, str], *, required: bool) -> str | None:
    secret = _str(env, "STORAGE_SECRET")
    if secret is not None and secret.lower() in _PLACEHOLDER_SECRETS:
        raise SettingsError("CHAT_STORAGE_SECRET is a placeholder; set it to a long random string.")
    if not required:
        return secret
    if secret is None:
        raise SettingsError(
            "CHAT_STORAGE_SECRET is required outside embedded mode (it signs the browser's session cookie); "
            f"generate one with: {_HOW_TO_GENERATE}"
        )
    if len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < _MIN_SECRET_DISTINCT:
        raise SettingsError(
            f"CHAT_STORAGE_SECRET is too easy to guess: use at least {MIN_SECRET_LENGTH} characters of a generated "
            f"secret, e.g. from: {_HOW_TO_GENERATE}"
        )
    return secret


def _proxies(env: Mapping[str, str]) -> TrustedProxies:
    try:
        return TrustedProxies.parse(_list(env, "TRUSTED_PROXIES"))
    except ValueError as exc:
        raise SettingsError(f"CHAT_TRUSTED_PROXIES: {exc}.") from None


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
    redis_cluster: bool = False
    storage_secret: str | None = None
    room: str = "lobby"
    page_size: int = 30
    max_message_length: int = 2000
    view_max_messages: int = 300
    session_ttl_seconds: int = 86_400
    rate_per_second: float = 5.0
    rate_burst: int = 10
    address_rate_per_second: float = 10.0
    address_rate_burst: int = 30
    joins_per_minute: float = 5.0
    join_burst: int = 5
    catchup_interval_seconds: float = 15.0
    reconnect_seconds: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8080
    native: bool = False
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
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
        redis_cluster = _bool(env, "REDIS_CLUSTER")
        if redis_cluster and redis_url is None:
            raise SettingsError("CHAT_REDIS_CLUSTER is set but CHAT_REDIS_URL is not: name any node of the cluster.")
        if redis_cluster and redis_url is not None and redis_url.startswith("unix://"):
            raise SettingsError("CHAT_REDIS_CLUSTER needs a redis:// or rediss:// URL: a cluster is reached over TCP.")
        secret = _secret(env, required=redis_url is not None)
        log_format = (_str(env, "LOG_FORMAT") or cls.log_format).lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"CHAT_LOG_FORMAT must be text or json, got {log_format!r}.")
        origins = tuple(o.rstrip("/") for o in _list(env, "ALLOWED_ORIGINS"))
        return cls(
            dynamodb_endpoint=endpoint,
            aws_region=_str(env, "AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.aws_region,
            table_prefix=env.get(PREFIX + "TABLE_PREFIX", "").strip(),
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            storage_secret=secret,
            room=_str(env, "ROOM") or cls.room,
            page_size=_int(env, "PAGE_SIZE", cls.page_size),
            max_message_length=_int(env, "MAX_MESSAGE_LENGTH", cls.max_message_length),
            view_max_messages=_int(env, "VIEW_MAX_MESSAGES", cls.view_max_messages, minimum=10),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", cls.session_ttl_seconds, minimum=60),
            rate_per_second=_float(env, "RATE_PER_SECOND", cls.rate_per_second),
            rate_burst=_int(env, "RATE_BURST", cls.rate_burst),
            address_rate_per_second=_float(env, "ADDRESS_RATE_PER_SECOND", cls.address_rate_per_second),
            address_rate_burst=_int(env, "ADDRESS_RATE_BURST", cls.address_rate_burst),
            joins_per_minute=_float(env, "JOINS_PER_MINUTE", cls.joins_per_minute),
            join_burst=_int(env, "JOIN_BURST", cls.join_burst),
            catchup_interval_seconds=_float(env, "CATCHUP_INTERVAL_SECONDS", cls.catchup_interval_seconds),
            reconnect_seconds=_float(env, "RECONNECT_SECONDS", cls.reconnect_seconds),
            host=_str(env, "HOST") or cls.host,
            port=_int(env, "PORT", cls.port, minimum=0),
            native=_bool(env, "NATIVE"),
            allowed_origins=origins,
            trusted_proxies=_proxies(env),
            log_format=log_format,
            metrics_public=_bool(env, "METRICS_PUBLIC"),
        )
