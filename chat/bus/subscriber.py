"""The subscriber of one process: every channel it wants, each on the link (connection) to the server serving it.

On a single Redis that is one link for all channels. On a cluster it is one link per shard that owns a wanted
channel, so a shard that fails takes down only its own channels' subscriptions while the other links keep
delivering. Channels are placed by the slot map (see ``placement``), and placed again after the map is read anew:
when a link loses its connection (its shard may have failed over) and when a server ends or refuses a
subscription (its slot moved). Those reads run in one task, paced with jittered backoff, so a shard that stays down
does not turn into a storm of slot-map reads from every process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable

from redis.exceptions import RedisClusterException, RedisError

from .placement import Placement
from .subscription import MAX_BACKOFF, MIN_BACKOFF, Link

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes | str], None]  # (channel, data)
ConfirmedHandler = Callable[[str, str], None]  # (channel, server), after every confirmation by the server
LostHandler = Callable[[str, str, frozenset[str]], None]  # (server, why, channels): their subscription is gone


class Subscriber:
    """Subscribes to the channels ``add``-ed, where they live; ``add`` and ``discard`` return at once."""

    def __init__(
        self,
        *,
        placement: Placement,
        on_message: MessageHandler,
        on_subscribed: ConfirmedHandler,
        on_lost: LostHandler,
    ) -> None:
        self._placement = placement
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._wanted: set[str] = set()
        self._links: dict[str, Link] = {}  # server -> its link
        self._placed: dict[str, Link] = {}  # channel -> the link it is on
        self._unplaced: set[str] = set()  # wanted, but where it lives is not known just now
        self._retired: set[Link] = set()  # links closed for want of channels, perhaps still closing
        self._changed = asyncio.Event()  # something to place: read the slot map, then place
        self._task: asyncio.Task[None] | None = None

    @property
    def links(self) -> dict[str, frozenset[str]]:
        """Each open link's server and the channels it serves."""
        return {server: link.wanted for server, link in self._links.items()}

    def add(self, channel: str) -> None:
        if channel in self._wanted:
            return
        self._wanted.add(channel)
        if self._task is not None:
            self._place(channel)

    def discard(self, channel: str) -> None:
        if channel not in self._wanted:
            return
        self._wanted.discard(channel)
        self._unplaced.discard(channel)
        link = self._placed.pop(channel, None)
        if link is not None:
            link.discard(channel)
            self._retire_if_idle(link)

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the subscriber is already running")
        self._task = asyncio.create_task(self._supervise(), name="bus placement")
        for channel in sorted(self._wanted):
            self._place(channel)  # on one server at once; on a cluster once the slot map is read
        self._changed.set()

    async def stop(self) -> None:
        """Stop every link and close its connection."""
        task, self._task = self._task, None
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        links = [*self._links.values(), *self._retired]
        self._links.clear()
        self._retired.clear()
        self._placed.clear()
        for link in links:
            link.close()
        for link in links:
            await link.wait_closed()

    def _place(self, channel: str) -> None:
        server = self._placement.server_of(channel)
        if server is None:
            self._unplaced.add(channel)
            return
        self._unplaced.discard(channel)
        link = self._links.get(server)
        if link is None:
            link = Link(
                server=server,
                connect=functools.partial(self._placement.connect, server),
                sharded=self._placement.sharded,
                owner=self,
            )
            self._links[server] = link
            link.start()
        self._placed[channel] = link
        link.add(channel)

    def _retire_if_idle(self, link: Link) -> None:
        self._retired = {old for old in self._retired if not old.closed}
        if not link.wanted and self._links.get(link.server) is link:
            del self._links[link.server]
            link.close()
            self._retired.add(link)

    async def _supervise(self) -> None:
        """Read the slot map and place what needs placing, whenever asked; repeated asks back off."""
        loop = asyncio.get_running_loop()
        pause, last = 0.0, -MAX_BACKOFF * 2
        while True:
            await self._changed.wait()
            if pause:
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # jitter: processes must not read in step
            self._changed.clear()
            try:
                await self._placement.refresh()
                self._reconcile()
            except (RedisError, RedisClusterException, OSError) as exc:
                log.warning("could not read where channels live (%s); trying again", exc)
                self._changed.set()
            except Exception:
                # this task must outlive any surprise: without it no channel is ever placed again
                log.exception("placing the subscriber's channels failed; trying again")
                self._changed.set()
            now = loop.time()
            # calm for a while: the next news is handled at once; news in a row: each pass waits longer
            pause = MIN_BACKOFF if now - last > 2 * MAX_BACKOFF else min(max(pause * 2, MIN_BACKOFF), MAX_BACKOFF)
            last = now

    def _reconcile(self) -> None:
        for channel in sorted(self._unplaced):
            self._place(channel)
        if self._placement.sharded:
            for channel, link in list(self._placed.items()):
                server = self._placement.server_of(channel)
                if server is not None and server != link.server:
                    log.info("%s moved from %s to %s", channel, link.server, server)
                    link.discard(channel)
                    del self._placed[channel]
                    self._place(channel)
                    self._retire_if_idle(link)
        if self._unplaced:
            self._changed.set()  # still unknown: ask again after a pause

    # what the links report, from their own tasks

    def message(self, link: Link, channel: str, data: bytes | str) -> None:
        if self._placed.get(channel) is link:
            self._on_message(channel, data)

    def subscribed(self, link: Link, channel: str) -> None:
        if self._placed.get(channel) is link:
            self._on_subscribed(channel, link.server)

    def ended(self, link: Link, channel: str, reason: str) -> None:
        if self._placed.get(channel) is link:
            del self._placed[channel]
        if channel in self._wanted:
            self._unplaced.add(channel)
            self._on_lost(link.server, reason, frozenset({channel}))
            self._changed.set()  # the slot moved, most likely: subscribe where it lives now
        self._retire_if_idle(link)

    def lost(self, link: Link, error: BaseException, *, was_up: bool) -> None:
        if was_up:
            self._on_lost(link.server, str(error) or type(error).__name__, link.wanted)
        if self._placement.sharded:
            self._changed.set()  # the shard may have failed over to a replica: read the slot map again
