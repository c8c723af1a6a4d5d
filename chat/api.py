"""The JSON API beside the UI: the same service, rules and errors, for bots, integrations and load generators."""

# no "from __future__ import annotations" here: FastAPI resolves the route signatures at runtime

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from .cookies import COOKIE_NAME, SessionCookies
from .errors import ChatError, Conflict, Forbidden, InvalidInput, NotFound, NotLoggedIn, RateLimited, Unavailable
from .json_body import MAX_BODY_BYTES, JsonBodyRoute
from .markdown import payload
from .models import Message, Session
from .proxies import TrustedProxies, address_of, secure_cookies
from .rooms import Room
from .service import UNREAD_CAP, ChatService

# every kind in chat/errors.py's tree has its status here (a unit test walks the tree)
STATUS: dict[type[ChatError], int] = {
    InvalidInput: 422,
    Conflict: 409,
    Forbidden: 403,
    NotFound: 404,
    NotLoggedIn: 401,
    RateLimited: 429,
    Unavailable: 503,
}


def status_of(kind: type[ChatError]) -> int | None:
    """The HTTP status of an error class: its own entry or its nearest ancestor's; None if the tree has a gap."""
    return next((STATUS[base] for base in kind.__mro__ if base in STATUS), None)


def error_response(error: ChatError) -> JSONResponse:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_seconds)
    elif isinstance(error, NotLoggedIn):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": error.message}, status_code=status_of(type(error)) or 400, headers=headers)


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=1000, description="2 to 32 letters, digits, spaces, _ - .")


class SessionOut(BaseModel):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    name: str
    expires_at: int = Field(description="Unix time; activity extends it.")


class CookieBody(BaseModel):
    name: str | None = Field(
        default=None, max_length=1000, description="The session's name, if known: the session is then read at once."
    )


class PostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a client-chosen "key" (its place in time) is refused, not ignored

    text: str = Field(max_length=1_000_000)
    nonce: str | None = Field(
        default=None,
        description="Your own id for this message (8 to 64 of A-Z a-z 0-9 _ -), new for every message. Send the "
        "same nonce again after a timeout or an error and the message is stored once; the answer is the message "
        "stored the first time. The server decides the message's key and time.",
    )


class MessageOut(BaseModel):
    room: str
    key: str = Field(description="The message's id and place in time, given by the server when it was stored.")
    author: str
    author_id: str = Field(description="Opaque id of the session that wrote it.")
    text: str
    nonce: str = Field(description="The sender's id for the message.")
    created_at: str
    html: str = Field(
        description="The text's Markdown (bold, italic, code, quotes, lists, http/https/mailto links) as HTML that "
        "holds only p br strong em code pre blockquote ul ol li a span, links with href, rel and target alone."
    )
    version: int = Field(default=0, description="0 for a message never changed; one more for every change stored.")
    edited_at: str | None = Field(default=None, description="When it was last edited (ISO-8601), if ever.")
    deleted: bool = Field(default=False, description="A deleted message keeps its place, without text or reactions.")
    reactions: dict[str, list[str]] = Field(
        default_factory=dict, description="Emoji -> the author ids who reacted with it (only emoji with any)."
    )
    changed_at: str | None = Field(default=None, description="The change key of the last change, if any.")


class EditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=1_000_000, description="The message's new text (the same rules as a new one).")


class PageOut(BaseModel):
    messages: list[MessageOut] = Field(description="Oldest first.")
    next_before: str | None = Field(description="Pass as `before` for the next older page; null at the start.")


class RoomBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=1000, description="1 to 40 letters, digits, spaces, _ - .")


class RoomOut(BaseModel):
    id: str = Field(description="The room's id, as in `/api/rooms/{room}/messages`; its name's case fold.")
    name: str
    path: str = Field(description="The room's page: `/` for the lobby, `/r/<id>` for any other.")


class RoomsOut(BaseModel):
    rooms: list[RoomOut] = Field(description="The lobby first, then every room by name.")
    unread: dict[str, int] = Field(
        description=f"Messages the session has not seen, by room id, counted up to {UNREAD_CAP} (rooms with none "
        "are left out)."
    )


class PersonOut(BaseModel):
    author_id: str = Field(description="Opaque id of the session, as in a message's `author_id`.")
    name: str


class PresenceOut(BaseModel):
    room: str
    people: list[PersonOut] = Field(
        description="Everybody who has the room open in a browser now, once each, by name (not stored: it lags a "
        "few seconds, and a server that stops takes its people off within 30 s)."
    )


class ErrorOut(BaseModel):
    detail: str


def _message_out(message: Message) -> MessageOut:
    return MessageOut(**payload(message))


def _room_out(room: Room, lobby: str) -> RoomOut:
    return RoomOut(**room.to_json(lobby))


def build_router(service: ChatService, *, cookies: SessionCookies, proxies: TrustedProxies) -> APIRouter:
    """The API routes under /api, bound to ``service``; ``cookies`` signs the browsers' sign-in cookie, and
    ``proxies`` says whose X-Forwarded-* headers tell the client's address and scheme."""
    router = APIRouter(prefix="/api", tags=["chat"], route_class=JsonBodyRoute)
    bearer = HTTPBearer(auto_error=False)
    errors: dict[int | str, dict[str, Any]] = {status: {"model": ErrorOut} for status in (401, 409, 422, 429, 503)}
    in_room = {**errors, 404: {"model": ErrorOut, "description": "There is no such room."}}
    with_body = {
        **errors,
        400: {"model": ErrorOut, "description": "The body is not valid UTF-8 JSON."},
        413: {"model": ErrorOut, "description": f"The body is larger than {MAX_BODY_BYTES // 1024} KiB."},
        415: {"model": ErrorOut, "description": "The body is not `application/json`."},
    }

    async def current_session(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Session:
        if credentials is None or not credentials.credentials:
            raise NotLoggedIn("Send your session token as 'Authorization: Bearer <token>'.")
        if len(credentials.credentials) > 200:
            raise NotLoggedIn("That session token is not valid.")
        return await service.resume(credentials.credentials)

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/sessions", status_code=201, responses=with_body)
    async def register(body: RegisterBody, request: Request) -> SessionOut:
        """Join with a user name; returns the session token."""
        session = await service.register(body.name, address=address_of(request, proxies))
        return SessionOut(token=session.token, name=session.name, expires_at=session.expires_at)

    @router.delete("/sessions/current", status_code=204, responses=errors)
    async def logout(session: Annotated[Session, Depends(current_session)]) -> Response:
        """Log out: the session ends and the name is free; messages stay."""
        await service.logout(session)
        return Response(status_code=204)

    Before = Annotated[str | None, Query(max_length=64, description="A `next_before` from the previous page.")]
    Limit = Annotated[int | None, Query(ge=1, le=service.limits.max_page_size)]
    RoomId = Annotated[str, Path(max_length=200, description="The room's `id` (see GET /api/rooms).")]

    async def page_of(room: str, before: str | None, limit: int | None) -> PageOut:
        page = await service.history(room, before=before, limit=limit)
        return PageOut(messages=[_message_out(m) for m in page.messages], next_before=page.cursor)

    async def post_to(room: str, body: PostBody, session: Session, request: Request) -> MessageOut:
        address = address_of(request, proxies)
        return _message_out(await service.send(session, body.text, room=room, nonce=body.nonce, address=address))

    @router.get("/messages", responses=errors)
    async def history(
        _session: Annotated[Session, Depends(current_session)], before: Before = None, limit: Limit = None
    ) -> PageOut:
        """One page of the lobby's history (needs a live session), newest page first, oldest first within it."""
        return await page_of(service.lobby.id, before, limit)

    @router.post("/messages", status_code=201, responses=with_body)
    async def post(
        body: PostBody, session: Annotated[Session, Depends(current_session)], request: Request
    ) -> MessageOut:
        """Post a message to the lobby; it appears live in every chat view of the lobby."""
        return await post_to(service.lobby.id, body, session, request)

    @router.get("/rooms", responses=errors)
    async def rooms(session: Annotated[Session, Depends(current_session)]) -> RoomsOut:
        """Every room (the lobby first), and how many messages of each the session has not seen."""
        listed = await service.rooms()
        lobby = service.lobby.id
        unread = await service.unread(session, listed)
        return RoomsOut(rooms=[_room_out(r, lobby) for r in listed], unread=unread)

    @router.post("/rooms", status_code=201, responses={**with_body, 200: {"model": RoomOut}})
    async def create_room(
        body: RoomBody, session: Annotated[Session, Depends(current_session)], response: Response
    ) -> RoomOut:
        """Make a room (201), or get the room that has this name already (200). A name that looks like another
        room's is refused (409) with that room's name."""
        room, created = await service.create_room(session, body.name)
        if not created:
            response.status_code = 200
        return _room_out(room, service.lobby.id)

    @router.get("/rooms/{room}/messages", responses=in_room)
    async def room_history(
        room: RoomId,
        _session: Annotated[Session, Depends(current_session)],
        before: Before = None,
        limit: Limit = None,
    ) -> PageOut:
        """One page of a room's history, as for the lobby."""
        return await page_of(room, before, limit)

    @router.post("/rooms/{room}/messages", status_code=201, responses={**with_body, **in_room})
    async def room_post(
        room: RoomId, body: PostBody, session: Annotated[Session, Depends(current_session)], request: Request
    ) -> MessageOut:
        """Post a message to a room; it appears live in every chat view of that room."""
        return await post_to(room, body, session, request)

    MessageKey = Annotated[str, Path(max_length=64, description="The message's `key`, URL-encoded (`#` is `%23`).")]
    Emoji = Annotated[str, Path(max_length=16, description="One emoji of the palette, URL-encoded.")]
    changing = {
        **in_room,
        403: {"model": ErrorOut, "description": "You can only change your own messages."},
        404: {"model": ErrorOut, "description": "There is no such room or message."},
        409: {"model": ErrorOut, "description": "The message was deleted."},
    }

    @router.patch("/rooms/{room}/messages/{key}", responses={**with_body, **changing})
    async def edit(
        room: RoomId, key: MessageKey, body: EditBody, session: Annotated[Session, Depends(current_session)]
    ) -> MessageOut:
        """Edit one of your messages; every view shows the new text, marked as edited."""
        return _message_out(await service.edit(session, room, key, body.text))

    @router.delete("/rooms/{room}/messages/{key}", responses=changing)
    async def delete(
        room: RoomId, key: MessageKey, session: Annotated[Session, Depends(current_session)]
    ) -> MessageOut:
        """Delete one of your messages: its text and reactions go, "This message was deleted." takes its place."""
        return _message_out(await service.delete(session, room, key))

    @router.put("/rooms/{room}/messages/{key}/reactions/{emoji}", responses=changing)
    async def react(
        room: RoomId, key: MessageKey, emoji: Emoji, session: Annotated[Session, Depends(current_session)]
    ) -> MessageOut:
        """Add your reaction, an emoji of the palette, to a message (again: no change); 409 when it is deleted, or
        when as many people as one emoji holds (MAX_REACTORS in chat/storage/changes.py) reacted with it already."""
        return _message_out(await service.react(session, room, key, emoji, on=True))

    @router.delete("/rooms/{room}/messages/{key}/reactions/{emoji}", responses=changing)
    async def unreact(
        room: RoomId, key: MessageKey, emoji: Emoji, session: Annotated[Session, Depends(current_session)]
    ) -> MessageOut:
        """Take back your reaction (none there: no change)."""
        return _message_out(await service.react(session, room, key, emoji, on=False))

    @router.get("/rooms/{room}/presence", responses=in_room)
    async def room_presence(room: RoomId, _session: Annotated[Session, Depends(current_session)]) -> PresenceOut:
        """Who has the room open now (needs a live session, as history does)."""
        people = await service.presence(room)
        return PresenceOut(room=room, people=[PersonOut(author_id=a, name=n) for a, n in people])

    @router.post("/rooms/{room}/typing", status_code=204, responses=in_room)
    async def room_typing(room: RoomId, session: Annotated[Session, Depends(current_session)]) -> Response:
        """Say that you are typing in the room: its tabs show it for 5 s. Send it at most every 3 s while typing;
        more often is dropped (still 204)."""
        await service.typing(session, room)
        return Response(status_code=204)

    @router.post("/session/cookie", status_code=204, responses=with_body)
    async def set_cookie(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        body: CookieBody | None = None,
    ) -> Response:
        """Sign this browser in with a signed, HttpOnly cookie: for the bearer's session, or renew the cookie's own."""
        if credentials is not None and credentials.credentials and len(credentials.credentials) <= 200:
            token, name = credentials.credentials, body.name if body is not None else None
        elif (signed := cookies.read(request.cookies.get(COOKIE_NAME))) is not None:
            token, name = signed.token, signed.name
        else:
            raise NotLoggedIn("Send your session token as 'Authorization: Bearer <token>'.")
        session = await service.resume(token, name=name)
        response = Response(status_code=204)
        cookies.set(response, session, secure=secure_cookies(request, proxies))
        return response

    @router.delete("/session/cookie", status_code=204)
    async def clear_cookie(request: Request) -> Response:
        """Forget this browser's sign-in cookie (the session itself ends with DELETE /api/sessions/current)."""
        response = Response(status_code=204)
        cookies.clear(response, secure=secure_cookies(request, proxies))
        return response

    return router


async def chat_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Register on the app for ChatError: every refusal becomes a 4xx (or 503) with a readable message."""
    assert isinstance(exc, ChatError)
    return error_response(exc)


_SHOWN_ERRORS = 5


def validation_detail(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as one readable line, e.g. "name: Field required".

    The input is never echoed: it can be a megabyte long, or hold a lone surrogate that cannot be encoded
    as UTF-8 (FastAPI's own handler answers 500 then). Field names can be the client's own (unknown fields), so
    they are shortened, and a body with thousands of wrong fields gets a few of them and a count.
    """
    errors = exc.errors()
    parts: list[str] = []
    for error in errors[:_SHOWN_ERRORS]:
        where = ".".join(str(part) for part in error.get("loc", ())[1:])[:40]
        if error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",):
            parts.append("This request needs a JSON body.")  # "Field required" would name no field
            continue
        message = "is not a field of this request" if error.get("type") == "extra_forbidden" else error.get("msg")
        message = str(message or "is not valid")
        parts.append(f"{where}: {message}" if where and error.get("type") != "json_invalid" else message)
    if len(errors) > _SHOWN_ERRORS:
        parts.append(f"and {len(errors) - _SHOWN_ERRORS:,} more")
    detail = "; ".join(parts) or "The request is not valid."
    return detail.encode("utf-8", "replace").decode("utf-8")


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Register on the app for RequestValidationError: a malformed request gets the same {"detail": "..."} 422."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_detail(exc)}, status_code=422)
