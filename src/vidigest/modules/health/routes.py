"""Liveness, readiness and Prometheus metrics (no authentication: probes and scrapers)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from vidigest import __version__
from vidigest.http.deps import StateDep
from vidigest.http.errors import ErrorCode, error_response, error_responses
from vidigest.modules.health.service import readiness

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/health/ready",
    summary="The database (and Kafka, and the bucket, when configured) answer",
    responses=error_responses(503),
)
def ready(state: StateDep) -> JSONResponse:
    report = readiness(state.settings, state.vidigest.database, state.vidigest.store)
    body: dict[str, Any] = report.as_dict()
    if report.ok:
        return JSONResponse(body)
    failed = [c for c in report.checks if not c.ok]
    message = "; ".join(f"{c.name} unavailable: {c.detail}" for c in failed)
    return error_response(ErrorCode.NOT_READY, message, **body)


def _registry() -> CollectorRegistry:
    """Several worker processes (PROMETHEUS_MULTIPROC_DIR set): merge every process's files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics() -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
