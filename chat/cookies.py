"""The sign-in cookie: a browser's session token, signed, so any process can resume the session from it.

The cookie holds the token and the display name (which makes the session's lookup a consistent read), signed with
the storage secret that every process shares. It is HttpOnly (page scripts cannot read it) and SameSite=Lax;
nothing about it lives in a process or in Redis, so a browser moved to another process, or a Redis restart,
leaves it signed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.responses import Response

from .models import Session

COOKIE_NAME = "sc_session"
_SALT = "sinchchat sign-in"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a valid cookie says: a token and the name it was issued for (the session may have ended since)."""

    token: str
    name: str


class SessionCookies:
    """Writes and reads the signed sign-in cookie; ``max_age`` is the session's lifetime in seconds."""

    def __init__(self, *, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._max_age = max_age

    def read(self, raw: str | None) -> SignedIn | None:
        """The cookie's content, or None when it is missing, forged, too old or malformed."""
        if not raw or len(raw) > 1000:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self._max_age)
        except BadData:
            return None
        if not (isinstance(data, list) and len(data) == 2 and all(isinstance(part, str) for part in data)):
            return None
        return SignedIn(token=data[0], name=data[1])

    def set(self, response: Response, session: Session, *, secure: bool) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self._serializer.dumps([session.token, session.name]),
            max_age=self._max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response, *, secure: bool) -> None:
        response.delete_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="lax")
