"""The sender: posts numbered messages through the JSON API at a fixed rate, as a bot or integration would."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import httpx


@dataclass(slots=True)
class Post:
    number: int
    sent_at: float  # monotonic, when the request started
    status: int = 0  # 0: no answer (timeout or connection error)
    seconds: float = 0.0
    tries: int = 0


class Sender:
    def __init__(self, base_url: str, *, timeout: float, retry: float = 0.0) -> None:
        """``retry``: seconds for which a post that got no answer or a 5xx is sent again, with the same nonce (the
        API stores a retried message once), as an integration does when the process it reached dies."""
        self._retry = retry
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self._token = ""
        self.posts: list[Post] = []  # kept here too, so a run that is cut off still tells what it sent

    async def join(self, name: str) -> None:
        response = await self._http.post("/api/sessions", json={"name": name})
        response.raise_for_status()
        self._token = response.json()["token"]

    async def create_room(self, name: str) -> dict[str, str]:
        """Make the room called ``name`` (or find it made already), as the New room button does; returns the room as
        the API shows it (id, name, path)."""
        response = await self._http.post(
            "/api/rooms", json={"name": name}, headers={"Authorization": f"Bearer {self._token}"}
        )
        response.raise_for_status()
        room: dict[str, str] = response.json()
        return room

    async def run(self, *, count: int, rate: float, text: str, path: str = "/api/messages") -> list[Post]:
        """Post ``count`` messages to ``path`` (the lobby's by default), message i at start + i / rate whatever the
        answers do; ``text`` gets .format(i)."""
        posts = [Post(number=i, sent_at=0.0) for i in range(count)]
        self.posts = posts
        start = time.monotonic() + 0.05
        tasks = []
        for post in posts:
            post.sent_at = start + post.number / rate  # until it is really sent
            delay = start + post.number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._post(post, text.format(post.number), path)))
        await asyncio.gather(*tasks)
        return posts

    async def _post(self, post: Post, text: str, path: str) -> None:
        post.sent_at = time.monotonic()
        body = {"text": text} if not self._retry else {"text": text, "nonce": secrets.token_urlsafe(16)}
        while True:
            post.tries += 1
            try:
                response = await self._http.post(path, json=body, headers={"Authorization": f"Bearer {self._token}"})
                post.status = response.status_code
            except httpx.HTTPError:
                post.status = 0
            if (post.status and post.status < 500) or time.monotonic() - post.sent_at > self._retry:
                break
            await asyncio.sleep(0.2)
        post.seconds = time.monotonic() - post.sent_at

    async def close(self) -> None:
        await self._http.aclose()
