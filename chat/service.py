"""ChatService: every use case, each as check, then do, then announce."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .directory import RoomDirectory
from .errors import BusUnavailable, InvalidInput, InvalidName, NotFound, NotLoggedIn, StorageUnavailable
from .hub import Hub, floor_before
from .metrics import Metrics
from .models import (
    REACTIONS,
    Draft,
    Message,
    Session,
    clean_text,
    is_message_key,
    is_nonce,
    key_prefix,
    new_author_id,
    new_nonce,
    new_session_token,
    session_digest,
)
from .names import check_name, name_key
from .ratelimit import Bucket, Limiter, LocalLimiter, Rate
from .reading import ReadTracker
from .rooms import Room, check_room_name
from .settings import Settings
from .storage import MarkerStore, MessageStore, Page, UserStore
from .storage.changes import Change

log = logging.getLogger(__name__)


# the API's largest page, unless the configured page is larger still
_MAX_PAGE_SIZE = 100
# how long a post may rely on the last read of its session; a logout anywhere forgets it at once through the hub,
# so this only matters while Redis is unreachable
_SESSION_RECHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What the service allows; built from Settings, which hold every default."""

    page_size: int
    max_page_size: int
    max_message_length: int
    session_ttl_seconds: int
    rate_per_second: float
    rate_burst: int
    # per client address, whatever the sessions: people behind one address share these
    address_rate_per_second: float
    address_rate_burst: int
    joins_per_minute: float
    join_burst: int
    session_recheck_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            page_size=settings.page_size,
            max_page_size=max(_MAX_PAGE_SIZE, settings.page_size),
            max_message_length=settings.max_message_length,
            session_ttl_seconds=settings.session_ttl_seconds,
            rate_per_second=settings.rate_per_second,
            rate_burst=settings.rate_burst,
            address_rate_per_second=settings.address_rate_per_second,
            address_rate_burst=settings.address_rate_burst,
            joins_per_minute=settings.joins_per_minute,
            join_burst=settings.join_burst,
            session_recheck_seconds=_SESSION_RECHECK_SECONDS,
        )


# an unread count stops here: the list shows "99+"
UNREAD_CAP = 100
# the read marker of every room a session has not opened: where the session began
_SINCE_JOINING = "*"

# sessions remembered as live (one small entry each); past this the oldest checks are forgotten
_CHECKED_SESSIONS = 100_000


class ChatService:
    """Sessions, rooms, posting and reading. Knows nothing of NiceGUI or HTTP."""

    def __init__(
        self,
        *,
        users: UserStore,
        messages: MessageStore,
        markers: MarkerStore,
        directory: RoomDirectory,
        hub: Hub,
        limits: Limits,
        limiter: Limiter | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self._users = users
        self._messages = messages
        self._markers = markers
        self.directory = directory
        self.hub = hub
        self.reads = ReadTracker(store=markers, hub=hub, metrics=metrics)
        self.limits = limits
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._limiter = limiter or LocalLimiter()
        self._session_rate = Rate(per_second=limits.rate_per_second, burst=limits.rate_burst)
        self._address_rate = Rate(per_second=limits.address_rate_per_second, burst=limits.address_rate_burst)
        self._join_rate = Rate(per_second=limits.joins_per_minute / 60, burst=limits.join_burst)
        self._checked: dict[str, tuple[Session, float]] = {}  # token digest -> (live session, when it was read)
        hub.on_every_session_end(self._forget_session)
        # a room made by another process is listed here at once, not only after the list is next read
        hub.on_every_room(directory.add)

    @property
    def lobby(self) -> Room:
        return self.directory.lobby

    @property
    def users(self) -> UserStore:
        """The sessions' store; writing to it directly skips the service's checks."""
        return self._users

    @property
    def messages(self) -> MessageStore:
        """The messages' store; writing to it directly skips the service's checks and the announcement."""
        return self._messages

    # -- sessions --------------------------------------------------------------------------------------
    async def register(self, raw_name: str, *, address: str | None = None) -> Session:
        """Claim a name for a new session; InvalidName, RateLimited or NameTaken say why not.

        Nothing is written on refusal. ``address`` is the client's network address: joins from one are limited.
        """
        name = check_name(raw_name)
        if address is not None:
            await self._limiter.take([("join:" + address, self._join_rate)], joining=True)
        session = Session(
            token=new_session_token(),
            name=name,
            name_key=name_key(name),
            author_id=new_author_id(),
            expires_at=self._expiry(),
        )
        await self._users.claim(session)
        log.info("session started for author %s", session.author_id)
        # rooms the session never opened count as read up to now: what is new since joining is unread
        joined = f"{key_prefix(self.hub.now())}#{'0' * 16}"
        self.reads.mark(session.author_id, _SINCE_JOINING, joined, expires_at=session.expires_at)
        try:
            # written now, not with the next batch: a page of this session may open on another process at once
            await self._markers.advance(session.author_id, _SINCE_JOINING, joined, expires_at=session.expires_at)
        except StorageUnavailable as exc:  # the batch writes it again; until then other processes count more
            log.warning("could not save when a session joined: %s", exc)
        return session

    async def resume(self, token: str, *, name: str | None = None) -> Session:
        """The live session for ``token`` (looked up by name when known: a consistent read), else NotLoggedIn.

        A session that is past half its lifetime is extended, so only inactivity ends it.
        """
        if name is not None:
            session = await self._users.by_name(name_key(self._held_name(name)), token=token)
        else:
            session = await self._users.by_token(token)
        if session is None:
            raise NotLoggedIn("Your session has ended. Join again.")
        if session.expires_at - self._clock() < self.limits.session_ttl_seconds / 2:
            expires_at = self._expiry()
            if not await self._users.touch(session, expires_at):
                raise NotLoggedIn("Your session has ended. Join again.")
            session = dataclasses.replace(session, expires_at=expires_at)
        return session

    async def logout(self, session: Session) -> None:
        """End the session and free its name; its messages stay."""
        await self._users.release(session)
        log.info("session ended for author %s", session.author_id)
        try:
            await self.hub.announce_session_end(session.token)
        except BusUnavailable as exc:  # other processes' tabs notice at their next action instead
            log.warning("could not announce the end of a session: %s", exc)

    # -- messages --------------------------------------------------------------------------------------
    def prepare(self, session: Session, raw_text: str, *, room: str | None = None, nonce: str | None = None) -> Draft:
        """Check the text, without storing it; posting the same draft again (same ``nonce``) stores it once.

        ``room`` is the room's id (the lobby when None); ``nonce`` the sender's idempotency id for this message (a
        new one when None). The server, not the sender, decides where the message sits in time, when it stores it.
        """
        text = clean_text(raw_text, max_length=self.limits.max_message_length)
        if nonce is not None and not is_nonce(nonce):
            raise InvalidInput("That message id is not valid: use 8 to 64 letters, digits, _ or -.")
        return Draft(
            room=self.lobby.id if room is None else room,
            author=session.name,
            author_id=session.author_id,
            text=text,
            nonce=nonce or new_nonce(),
        )

    async def post(self, session: Session, draft: Draft, *, address: str | None = None) -> Message:
        """Store ``draft`` (made by prepare) and announce it; the stored message, the first one for a retry.

        ``address`` is the client's network address: posts from one are limited whatever the sessions.
        """
        started = time.perf_counter()
        # check: the session is still live (another tab may have logged out) and within the rate limits
        live = await self._live(session)
        if draft.author_id != live.author_id:
            raise InvalidInput("That message belongs to someone else.")
        await self.room(draft.room)  # NotFound for a room that does not exist
        buckets: list[Bucket] = [("post:" + session_digest(live.token), self._session_rate)]
        if address is not None:
            buckets.append(("post-from:" + address, self._address_rate))
        await self._limiter.take(buckets)
        # do: two conditional writes store the message under a key of the server's time and remember its nonce
        message = await self._messages.put(draft)
        self._metrics.stored.inc()
        # announce: only now that it is stored, without waiting for Redis; a lost announcement is repaired
        self.hub.announce(message)
        self.reads.mark(live.author_id, message.room, message.key, expires_at=live.expires_at)  # one's own is read
        self._metrics.post_seconds.observe(time.perf_counter() - started)
        return message

    async def send(
        self,
        session: Session,
        raw_text: str,
        *,
        room: str | None = None,
        nonce: str | None = None,
        address: str | None = None,
    ) -> Message:
        """prepare, then post."""
        return await self.post(session, self.prepare(session, raw_text, room=room, nonce=nonce), address=address)

    # -- changes -------------------------------------------------------------------------------------------
    async def edit(self, session: Session, room: str, key: str, raw_text: str) -> Message:
        """Replace the text of one of the session's messages; the message after the edit.

        InvalidText for a text that breaks the rules, Forbidden for someone else's message, Conflict for a deleted
        one, NotFound for none. An edit to the same text stores nothing and announces nothing.
        """
        text = clean_text(raw_text, max_length=self.limits.max_message_length)
        live = await self._may_change(session, room, key)
        change = await self._messages.changes.edit(room, key, author_id=live.author_id, text=text)
        return self._announce_change("update", change)

    async def delete(self, session: Session, room: str, key: str) -> Message:
        """Delete one of the session's messages (its text and reactions go; "This message was deleted." stays).

        Forbidden for someone else's message, NotFound for none; deleting it again changes nothing.
        """
        live = await self._may_change(session, room, key)
        change = await self._messages.changes.delete(room, key, author_id=live.author_id)
        return self._announce_change("remove", change)

    async def react(self, session: Session, room: str, key: str, emoji: str, *, on: bool) -> Message:
        """Add (``on``) or take back the session's ``emoji`` on any message of ``room``; the same again changes
        nothing. InvalidInput for an emoji outside the palette, Conflict for a deleted message, NotFound for none."""
        if emoji not in REACTIONS:
            raise InvalidInput(f"Pick a reaction from the palette: {' '.join(REACTIONS)}.")
        live = await self._may_change(session, room, key)
        change = await self._messages.changes.react(room, key, author_id=live.author_id, emoji=emoji, on=on)
        return self._announce_change("react", change)

    async def _may_change(self, session: Session, room: str, key: str) -> Session:
        """The checks of every change: a message key, a live session, a room that exists, the session's rate."""
        if not is_message_key(key):
            raise NotFound("There is no such message.")
        live = await self._live(session)
        await self.room(room)
        await self._limiter.take([("post:" + session_digest(live.token), self._session_rate)])
        return live

    def _announce_change(self, op: str, change: Change) -> Message:
        # announce only what was stored: a change that changed nothing has nothing to tell
        if change.changed:
            self.hub.announce_change(op, change.message)
        return change.message

    async def history(self, room: str, *, before: str | None = None, limit: int | None = None) -> Page:
        """One page of ``room``'s messages older than ``before`` (the newest when None), oldest first."""
        size = self.limits.page_size if limit is None else limit
        if not 1 <= size <= self.limits.max_page_size:
            raise InvalidInput(f"A page holds 1 to {self.limits.max_page_size} messages.")
        if before is not None and not is_message_key(before):
            raise InvalidInput("That cursor is not valid.")
        await self.room(room)
        return await self._messages.page(room, limit=size, before=before)

    async def older(self, session: Session, room: str, *, before: str | None) -> Page:
        """history for a tab's Load more: a live session, and its reads limited as its posts are (every page is a
        DynamoDB query, and a hand-made client can ask for them without pause)."""
        live = await self._live(session)
        await self._limiter.take([("read:" + session_digest(live.token), self._session_rate)])
        return await self.history(room, before=before)

    async def since(self, room: str, key: str | None) -> list[Message]:
        """What a reader of ``room`` whose newest message is ``key`` may have missed (from a little before it: the
        reader drops what it has), from this process's memory when it reaches back that far."""
        recent = self.hub.since(room, key)
        if recent is not None:
            return recent
        messages, _ = await self._messages.after(room, floor_before(key, now=self.hub.now()))
        return messages

    # -- rooms -----------------------------------------------------------------------------------------
    async def rooms(self) -> list[Room]:
        """The room list: the lobby, then every other room by name."""
        return await self.directory.rooms()

    async def room(self, room: str) -> Room:
        """The room with id ``room``; NotFound when there is none."""
        found = await self.directory.get(room)
        if found is None:
            raise NotFound("There is no room with that name. Create it with New room.")
        return found

    async def create_room(self, session: Session, raw_name: str) -> tuple[Room, bool]:
        """The room called ``raw_name``: made now (True), or the one that has that name already (False).

        InvalidRoomName for a name that breaks the rules, RoomLookAlike for one that looks like another room's.
        """
        name = check_room_name(raw_name)
        live = await self._live(session)
        await self._limiter.take([("room:" + session_digest(live.token), self._session_rate)])
        room, created = await self.directory.create(name, created_by=live.author_id)
        if created:
            log.info("room created by author %s", live.author_id)
            self.hub.announce_room(room)
        return room, created

    def mark_read(self, session: Session, room: str, key: str) -> None:
        """The session has seen ``room`` up to ``key``: every tab of it clears the room's unread count."""
        if is_message_key(key):
            self.reads.mark(session.author_id, room, key, expires_at=session.expires_at)

    async def unread(self, session: Session, rooms: list[Room]) -> dict[str, int]:
        """How many messages of each room the session has not seen, up to UNREAD_CAP; rooms with none are left out.

        One Query for the session's markers; a count Query only for rooms that have something new.
        """
        reader = session.author_id
        markers = await self._markers.of_reader(reader)
        # markers set here are written once per interval: until then only this process knows them (the one set
        # at joining among them, without which everything stored before would count)
        since_joining = max(markers.get(_SINCE_JOINING, ""), self.reads.told(reader, _SINCE_JOINING))
        counts: dict[str, int] = {}

        async def count(room: str) -> None:
            newest = self.hub.newest(room)
            if newest is None:
                newest = await self._messages.newest_key(room)
                if newest is None:
                    return
                self.hub.learn_newest(room, newest)
            marker = max(markers.get(room, ""), self.reads.told(reader, room), since_joining)
            if newest > marker:
                counts[room] = await self._messages.count_after(room, marker, limit=UNREAD_CAP)

        await asyncio.gather(*(count(room.id) for room in rooms))
        return {room: n for room, n in counts.items() if n > 0}

    # -- presence and typing (ephemeral: never stored) ---------------------------------------------------
    async def presence(self, room: str) -> list[tuple[str, str]]:
        """Everybody who has ``room`` open in some tab of some process: (author_id, name), by name."""
        await self.room(room)
        return await self.hub.presence.read(room, heard_here=room in self.hub.open_rooms)

    async def typing(self, session: Session, room: str) -> bool:
        """The session's author is typing in ``room``: the room's other tabs say so for a few seconds. False when
        the author's previous typing event was too recent (dropped, whatever the client sends)."""
        await self.room(room)
        return self.hub.presence.typing(room, session.author_id, session.name)

    async def _live(self, session: Session) -> Session:
        """``resume`` for posting: a session read less than ``session_recheck_seconds`` ago is not read again.

        Halves the DynamoDB calls of a busy sender. The hub drops the remembered session as soon as it ends in
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

    @staticmethod
    def _held_name(name: str) -> str:
        """``name`` as a session holds it; a name no session can hold (empty, too long ...) holds none."""
        try:
            return check_name(name)
        except InvalidName:
            raise NotLoggedIn("Your session has ended. Join again.") from None

    def _expiry(self) -> int:
        return int(self._clock()) + self.limits.session_ttl_seconds
