"""One zoo per test session: each variant is trained once and shared by every test."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.zoo import Zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    return Zoo(tmp_path_factory.mktemp("zoo"))
