"""HTTP routes of webhooks: register an endpoint (its secret is answered), list, disable and
enable, rotate the secret, delete; the delivery log of an endpoint and of one delivery."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from vidigest.http.deps import SessionDep, SettingsDep
from vidigest.http.errors import error_responses
from vidigest.modules.webhooks.egress import check_receiver
from vidigest.modules.webhooks.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    EndpointList,
    EndpointOut,
    EndpointRequest,
    EndpointWithSecret,
)
from vidigest.modules.webhooks.service import DeliveryStatus, WebhookService

router = APIRouter(tags=["webhooks"])

# ids as the service makes them ("ep_…", "msg_…", a video's uuid): anything else is no id
ID_PATTERN = r"^[\w.:-]{1,64}$"
EndpointId = Annotated[str, Path(pattern=ID_PATTERN)]
DeliveryId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.post(
    "/webhooks/endpoints",
    response_model=EndpointWithSecret,
    status_code=201,
    summary="Register a webhook endpoint; the answer holds its signing secret",
    responses=error_responses(400, 403, 422),
)
def create_endpoint(
    body: EndpointRequest, session: SessionDep, settings: SettingsDep
) -> EndpointWithSecret:
    check_receiver(body.url, settings.webhook_network_list)
    endpoint = WebhookService(session).create_endpoint(
        body.url, body.events, description=body.description
    )
    return EndpointWithSecret.of(endpoint)


@router.get("/webhooks/endpoints", response_model=EndpointList, summary="The webhook endpoints")
def list_endpoints(session: SessionDep) -> EndpointList:
    return EndpointList(endpoints=[EndpointOut.of(e) for e in WebhookService(session).endpoints()])


@router.get(
    "/webhooks/endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="One webhook endpoint",
    responses=error_responses(404),
)
def get_endpoint(endpoint_id: EndpointId, session: SessionDep) -> EndpointOut:
    return EndpointOut.of(WebhookService(session).endpoint(endpoint_id))


@router.get(
    "/webhooks/endpoints/{endpoint_id}/secret",
    response_model=EndpointWithSecret,
    summary="An endpoint with its signing secret",
    responses=error_responses(404),
)
def get_secret(endpoint_id: EndpointId, session: SessionDep) -> EndpointWithSecret:
    return EndpointWithSecret.of(WebhookService(session).endpoint(endpoint_id))


@router.post(
    "/webhooks/endpoints/{endpoint_id}/{action}",
    response_model=EndpointWithSecret,
    summary="disable (nothing is sent; deliveries wait), enable, or rotate-secret (the old "
    "secret signs too for keep_previous_hours)",
    responses=error_responses(404),
)
def change_endpoint(
    endpoint_id: EndpointId,
    action: Literal["disable", "enable", "rotate-secret"],
    session: SessionDep,
    keep_previous_hours: Annotated[
        float,
        Query(
            ge=0,
            le=720,
            description="rotate-secret: hours deliveries are signed with the old secret too",
        ),
    ] = 24.0,
) -> EndpointWithSecret:
    service = WebhookService(session)
    if action == "rotate-secret":
        endpoint = service.rotate_secret(endpoint_id, keep_previous_hours)
    else:
        endpoint = service.set_enabled(endpoint_id, action == "enable")
    return EndpointWithSecret.of(endpoint)


@router.delete(
    "/webhooks/endpoints/{endpoint_id}",
    status_code=204,
    summary="Delete an endpoint with its deliveries and their log",
    responses=error_responses(404),
)
def delete_endpoint(endpoint_id: EndpointId, session: SessionDep) -> Response:
    WebhookService(session).delete_endpoint(endpoint_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    summary="An endpoint's deliveries, newest first",
    responses=error_responses(404),
)
def list_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    deliveries = WebhookService(session).deliveries(endpoint_id, status=status, limit=limit)
    return DeliveryList(deliveries=[DeliveryOut.of(d) for d in deliveries])


@router.get(
    "/webhooks/deliveries",
    response_model=DeliveryList,
    summary="A video's deliveries (to every endpoint, its callback_url's too), newest first",
)
def video_deliveries(
    session: SessionDep,
    video_id: Annotated[str, Query(pattern=ID_PATTERN)],
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    deliveries = WebhookService(session).deliveries(video_id=video_id, status=status, limit=limit)
    return DeliveryList(deliveries=[DeliveryOut.of(d) for d in deliveries])


@router.get(
    "/webhooks/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery: its payload and every attempt (status code, latency, error)",
    responses=error_responses(404),
)
def get_delivery(delivery_id: DeliveryId, session: SessionDep) -> DeliveryDetail:
    return DeliveryDetail.of_log(WebhookService(session).delivery(delivery_id))


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    summary="Send a delivery again (same webhook-id)",
    responses=error_responses(404),
)
def redeliver(delivery_id: DeliveryId, session: SessionDep) -> DeliveryOut:
    return DeliveryOut.of(WebhookService(session).redeliver(delivery_id))
