"""librdkafka configuration dictionaries built from `Settings`.

One place decides the client settings, so every producer, consumer and admin client in the
system connects the same way (bootstrap + optional TLS/SASL) and consumers share one commit
policy: offsets are stored and committed explicitly, only after a message is done.
"""

from __future__ import annotations

import logging
from typing import Any

from vidigest.common.exceptions import ConfigurationError
from vidigest.config import Settings

KafkaConfig = dict[str, Any]

# librdkafka's own log lines (connection failures, ...) go through Python logging, not stderr.
CLIENT_LOGGER = logging.getLogger("vidigest.kafka.client")


def common_config(settings: Settings, client_id: str | None = None) -> KafkaConfig:
    """Connection settings shared by every client: bootstrap plus security passthrough."""
    if not settings.kafka_bootstrap:
        raise ConfigurationError("VIDIGEST_KAFKA_BOOTSTRAP is not set: Kafka is not configured")
    conf: KafkaConfig = {"bootstrap.servers": settings.kafka_bootstrap, "logger": CLIENT_LOGGER}
    optional = {
        "security.protocol": settings.kafka_security_protocol,
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": settings.kafka_sasl_password,
        "ssl.ca.location": settings.kafka_ssl_ca_location,
    }
    conf.update({key: value for key, value in optional.items() if value})
    if client_id:
        conf["client.id"] = client_id
    return conf


def producer_config(settings: Settings, client_id: str | None = None) -> KafkaConfig:
    """Idempotent producer (no duplicates or reordering from retries), acks from all replicas."""
    conf = common_config(settings, client_id)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
    )
    return conf


def consumer_config(
    settings: Settings, group_id: str | None = None, client_id: str | None = None
) -> KafkaConfig:
    """Consumer with explicit offset storage/commit and cooperative rebalancing."""
    conf = common_config(settings, client_id)
    conf.update(
        {
            "group.id": group_id or settings.consumer_group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "max.poll.interval.ms": settings.max_poll_interval_ms,
            "session.timeout.ms": settings.session_timeout_ms,
            # librdkafka requires heartbeat.interval.ms < session.timeout.ms; its default (3 s)
            # would break short session timeouts, so keep it at a third of the session.
            "heartbeat.interval.ms": max(100, settings.session_timeout_ms // 3),
        }
    )
    return conf


def admin_config(settings: Settings, client_id: str | None = None) -> KafkaConfig:
    return common_config(settings, client_id)
