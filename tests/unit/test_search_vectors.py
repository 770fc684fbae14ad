"""Which pgvector versions get iterative index scans (`hnsw.iterative_scan`, pgvector 0.8):
an older pgvector reserves the `hnsw.` prefix, so setting it there fails the search."""

from __future__ import annotations

import pytest

from vidigest.modules.search.vectors import has_iterative_scan


@pytest.mark.parametrize("version", ["0.8.0", "0.8.5", "0.9.0", "0.10.1", "1.0.0", " 0.8.1 "])
def test_pgvector_from_0_8_scans_iteratively(version: str) -> None:
    assert has_iterative_scan(version)


@pytest.mark.parametrize("version", ["0.7.4", "0.5.1", "0.4.0", "0.1", "", "dev", "0"])
def test_older_or_unreadable_versions_do_not(version: str) -> None:
    assert not has_iterative_scan(version)
