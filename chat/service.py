"""ChatService: every use case, each as check, then do, then announce."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BusUnavailable, InvalidInput, NotLoggedIn
from .feed import RoomFeed, session_digest
from .metrics import Metrics
from .models import (
    Message,
    Session,
    check_name,
    clean_text,
    is_message_key,
    name_key,
    new_message_key,
    new_session_token,
)
from .ratelimit import RateLimiter
from .storage import MessageStore, Page, UserStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    page_size: int = 30
    max_page_size: int = 100
    max_message_length: int = 2000
    session_ttl_seconds: int = 86_400
    rate_per_second: float = 5.0
    rate_burst: int = 10
    # how long a post may rely on the last read of its session; a logout anywhere forgets it at once through the
    # feed, so this only matters while Redis is unreachable
    session_recheck_seconds: float = 2.0


# sessions remembered as live (one small entry each); past this the oldest checks are forgotten
_CHECKED_SESSIONS = 100_000


class ChatService:
    """The one conversation: sessions, posting and reading. Knows nothing of NiceGUI or HTTP."""

    def __init__(
        self,
        *,
        users: UserStore,
        messages: MessageStore,
        feed: RoomFeed,
        limits: Limits,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self._users = users
        self._messages = messages
        self.feed = feed
        self.limits = limits
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._rate = RateLimiter(rate=limits.rate_per_second, burst=limits.rate_burst)
        self._checked: dict[str, tuple[Session, float]] = {}  # token digest -> (live session, when it was read)
        feed.on_every_session_end(self._forget_session)

    @property
    def room(self) -> str:
        return self.feed.room

    # -- sessions --------------------------------------------------------------------------------------
    async def register(self, raw_name: str) -> Session:
        """Claim a name for a new session; InvalidName or NameTaken say why not. Nothing is written on refusal."""
        name = check_name(raw_name)
        session = Session(
            token=new_session_token(),
            name=name,
            name_key=name_key(name),
            expires_at=self._expiry(),
        )
        await self._users.claim(session)
        log.info("session started for %r", session.name_key)
        return session

    async def resume(self, token: str, *, name: str | None = None) -> Session:
        """The live session for ``token`` (looked up by name when known: a consistent read), else NotLoggedIn.

        A session that is past half its lifetime is extended, so only inactivity ends it.
        """
        if name is not None:
            session = await self._users.by_name(name_key(name))
            if session is not None and session.token != token:
                session = None
        else:
            session = await self._users.by_token(token)
        if session is None:
            raise NotLoggedIn("Your session has ended. Join again.")
        if session.expires_at - self._clock() < self.limits.session_ttl_seconds / 2:
            expires_at = self._expiry()
            if not await self._users.touch(session, expires_at):
                raise NotLoggedIn("Your session has ended. Join again.")
            session = Session(token=session.token, name=session.name, name_key=session.name_key, expires_at=expires_at)
        return session

    async def logout(self, session: Session) -> None:
        """End the session and free its name; its messages stay."""
        await self._users.release(session)
        log.info("session ended for %r", session.name_key)
        try:
            await self.feed.announce_session_end(session.token)
        except BusUnavailable as exc:  # other processes' tabs notice at their next action instead
            log.warning("could not announce the end of a session: %s", exc)

    # -- messages --------------------------------------------------------------------------------------
    def prepare(self, session: Session, raw_text: str, *, key: str | None = None) -> Message:
        """Check the text and fix the message's key, without storing it; the same Message can be posted again."""
        text = clean_text(raw_text, max_length=self.limits.max_message_length)
        if key is not None and not is_message_key(key):
            raise InvalidInput("That message id is not valid.")
        return Message(
            room=self.room,
            key=key or new_message_key(),
            author=session.name,
            author_key=session.name_key,
            text=text,
        )

    async def post(self, session: Session, message: Message) -> Message:
        """Store ``message`` (made by prepare) and announce it. Posting the same message again stores it once."""
        started = time.perf_counter()
        # check: the session is still live (another tab may have logged out) and within the rate limit
        live = await self._live(session)
        if message.author_key != live.name_key or message.room != self.room:
            raise InvalidInput("That message belongs to someone else.")
        self._rate.take(live.token)
        # do: a conditional write, so a retry of the same key is not a second message
        await self._messages.put(message)
        self._metrics.stored.inc()
        # announce: only now that it is stored; a lost announcement is repaired by the feed's catch-up
        try:
            await self.feed.announce(message)
            self._metrics.announced.inc()
        except BusUnavailable as exc:
            log.warning("stored %s but could not announce it: %s", message.key, exc)
        self._metrics.post_seconds.observe(time.perf_counter() - started)
        return message

    async def send(self, session: Session, raw_text: str, *, key: str | None = None) -> Message:
        """prepare, then post."""
        return await self.post(session, self.prepare(session, raw_text, key=key))

    async def history(self, *, before: str | None = None, limit: int | None = None) -> Page:
        """One page of messages older than ``before`` (the newest when None), oldest first."""
        size = self.limits.page_size if limit is None else limit
        if not 1 <= size <= self.limits.max_page_size:
            raise InvalidInput(f"A page holds 1 to {self.limits.max_page_size} messages.")
        if before is not None and not is_message_key(before):
            raise InvalidInput("That cursor is not valid.")
        return await self._messages.page(self.room, limit=size, before=before)

    async def since(self, key: str) -> list[Message]:
        """Every message after ``key``, from this process's memory when it reaches back that far."""
        recent = self.feed.since(key)
        if recent is not None:
            return recent
        return await self._messages.after(self.room, key)

    async def _live(self, session: Session) -> Session:
        """``resume`` for posting: a session read less than ``session_recheck_seconds`` ago is not read again.

        Halves the DynamoDB calls of a busy sender. The feed drops the remembered session as soon as it ends in
        any process, so only a logout while this process cannot hear Redis goes unseen, for that long at most.
        """
        digest = session_digest(session.token)
        now = self._clock()
        checked = self._checked.get(digest)
        if checked is not None:
            live, read_at = checked
            if now - read_at < self.limits.session_recheck_seconds and not live.expired(now):
                return live
        live = await self.resume(session.token, name=session.name)
        self._checked.pop(digest, None)  # re-inserted last: the dict stays in the order of the reads
        self._checked[digest] = (live, now)
        while len(self._checked) > _CHECKED_SESSIONS:
            del self._checked[next(iter(self._checked))]
        return live

    def _forget_session(self, digest: str) -> None:
        self._checked.pop(digest, None)

    def _expiry(self) -> int:
        return int(self._clock()) + self.limits.session_ttl_seconds
