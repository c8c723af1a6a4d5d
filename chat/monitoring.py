"""The operator's endpoints: readiness for load balancers and orchestrators, and Prometheus metrics."""

# no "from __future__ import annotations" here: FastAPI resolves the route signatures at runtime

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .health import Health
from .metrics import Metrics

_READY_EXAMPLE = {"status": "unready", "reasons": ["redis: no answer within 1 s", "subscriber: not subscribed"]}


def is_local(request: Request) -> bool:
    """A request from this machine that no proxy passed on (a proxy adds X-Forwarded-For)."""
    if request.client is None or "x-forwarded-for" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def build_monitoring_router(*, health: Health, metrics: Metrics, metrics_public: bool) -> APIRouter:
    """``GET /api/ready`` and ``GET /metrics`` (loopback only unless ``metrics_public``)."""
    router = APIRouter(tags=["operations"])

    @router.get(
        "/api/ready",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ready"}}}},
            503: {"description": "Not ready", "content": {"application/json": {"example": _READY_EXAMPLE}}},
        },
    )
    async def ready() -> JSONResponse:
        """503 with the reasons while DynamoDB or Redis cannot be reached, the subscriber is not subscribed, or the
        process is shutting down; checked at most once a second."""
        readiness = await health.ready()
        return JSONResponse(readiness.to_json(), status_code=200 if readiness.ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not (metrics_public or is_local(request)):
            return JSONResponse(
                {"detail": "Metrics are served to this machine only (set CHAT_METRICS_PUBLIC=1 to change that)."},
                status_code=403,
            )
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return router
