"""The errors sinchchat raises, each with a message a person can read.

    ChatError
    ├── InvalidInput            (the request itself is wrong; 4xx in the API)
    │   ├── InvalidName
    │   └── InvalidText
    ├── Conflict                (the request contradicts what is stored, e.g. a reused nonce; 409)
    │   ├── NameTaken           (a live session holds the name)
    │   └── RoomLookAlike       (another room's name looks the same)
    ├── Forbidden               (someone else's message; 403)
    ├── NotFound                (no such room or message; 404)
    ├── NotLoggedIn             (unknown, expired or ended session; 401)
    ├── RateLimited             (too many messages; 429 with Retry-After)
    └── Unavailable             (a backend cannot be reached; 503)
        ├── StorageUnavailable  (DynamoDB)
        └── BusUnavailable      (Redis)

Foreign errors (botocore, redis) never leave ``chat/``: the storage and bus modules map them
with ``raise StorageUnavailable(...) from exc``.
"""

from __future__ import annotations

import math


class ChatError(Exception):
    """Base class; ``str(error)`` is safe to show to the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ChatError):
    """The input breaks a rule; nothing was written."""


class InvalidName(InvalidInput):
    """A user name that breaks the name rules."""


class InvalidText(InvalidInput):
    """Message text that breaks the text rules."""


class Conflict(ChatError):
    """The request contradicts what is stored (e.g. a message id already used for another message); nothing changed."""


class NameTaken(Conflict):
    """Another live session holds this name."""


class RoomLookAlike(Conflict):
    """A new room's name looks like the name of an existing room (its ``existing_id`` and ``existing_name``); two
    such rooms would be mistaken for each other, so the second one is refused and the person is shown the first."""

    def __init__(self, *, existing_id: str, existing_name: str) -> None:
        super().__init__(f"That name is too similar to the room '{existing_name}'. Pick another one.")
        self.existing_id = existing_id
        self.existing_name = existing_name


class Forbidden(ChatError):
    """The request would change what belongs to someone else (another person's message); nothing changed."""


class NotFound(ChatError):
    """What the request names does not exist (a room, a message)."""


class NotLoggedIn(ChatError):
    """The session is unknown, expired or was ended."""


class RateLimited(ChatError):
    """The sender is over the rate limit; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        """The wait as HTTP's Retry-After wants it: whole seconds, at least 1, never shorter than the real wait."""
        return _whole_seconds(self.retry_after)

    @classmethod
    def for_wait(cls, seconds: float, *, joining: bool = False) -> RateLimited:
        """The refusal for someone who may go on in ``seconds``: its text and Retry-After say the same number."""
        whole = _whole_seconds(seconds)
        if joining:
            return cls(f"Too many people joined from your address. Wait {whole} s and join again.", retry_after=seconds)
        return cls(f"You are sending too fast. Wait {whole} s and send again.", retry_after=seconds)


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class Unavailable(ChatError):
    """A backend could not be reached; trying again later may work."""


class StorageUnavailable(Unavailable):
    """DynamoDB could not be reached or refused the request."""


class BusUnavailable(Unavailable):
    """Redis could not be reached."""
