"""Fixtures for tests against the real Kafka-protocol broker (tansu, started here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.kafka_broker import TansuBroker, unique_name
from vidigest.database.session import Database


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    """One tansu broker (memory storage) for the whole session; tests use unique topic names."""
    with TansuBroker() as broker:
        yield broker


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`unique_topic("in")` -> e.g. "test_retry-in-1f2e3d4c": unique per call and test."""

    def make(suffix: str = "t") -> str:
        return unique_name(f"{request.node.name}-{suffix}")

    return make


@pytest.fixture
def cluster(
    postgres_url: str, postgres_db: Database, kafka_broker: TansuBroker, tmp_path: Path
) -> Iterator[Cluster]:
    """A distributed deployment with its topics created; processes are started by the test."""
    deployment = Cluster(postgres_url, kafka_broker.bootstrap, tmp_path, unique_name("vd"))
    result = deployment.cli("topics", "create")
    assert result.returncode == 0, result.stderr
    yield deployment
    deployment.close()
