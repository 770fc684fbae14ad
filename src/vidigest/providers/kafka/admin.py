"""Topic creation (idempotent) and the broker readiness probe."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # what confluent_kafka.admin re-exports, typed

from vidigest.common.exceptions import ConfigurationError, VidigestError
from vidigest.config import Settings
from vidigest.providers.kafka.config import admin_config

log = logging.getLogger(__name__)


class TopicCreationError(VidigestError):
    """The broker refused to create a topic for a reason other than "it already exists"."""


def create_topics(
    settings: Settings,
    names: Iterable[str],
    partitions: int | None = None,
    replication: int | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; return the names actually created.

    Existing topics are left as they are (their partition count is not changed). Any other
    error raises `TopicCreationError` naming every topic that failed.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    num_partitions = partitions if partitions is not None else settings.topic_partitions
    replication_factor = replication if replication is not None else settings.topic_replication
    if num_partitions < 1 or replication_factor < 1:
        raise ConfigurationError(
            f"topics need >= 1 partition and replica, got {num_partitions}/{replication_factor}"
        )
    admin = AdminClient(admin_config(settings))
    futures = admin.create_topics(
        [NewTopic(name, num_partitions, replication_factor) for name in wanted],
        request_timeout=timeout,
        operation_timeout=timeout,
    )
    created: list[str] = []
    failures: list[str] = []
    for name in wanted:
        try:
            futures[name].result(timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                log.debug("topic %s already exists", name)
                continue
            failures.append(f"{name}: {error or exc}")
        except Exception as exc:  # timeouts from the future itself
            failures.append(f"{name}: {exc!r}")
        else:
            created.append(name)
            log.info("created topic %s (%d partitions)", name, num_partitions)
    if failures:
        raise TopicCreationError("cannot create topics: " + "; ".join(failures))
    return created


def broker_reachable(settings: Settings, timeout: float = 5.0) -> bool:
    """True when the cluster answers a metadata request within `timeout` seconds."""
    try:
        admin = AdminClient(admin_config(settings))
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        log.debug("broker not reachable: %s", exc)
        return False
    return bool(metadata.brokers)
