"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default. Callers see the
Protocols of `ports`; `Store.transaction()` gives a Transaction over them."""

from .batch import WriteBatcher
from .ports import (
    ArtifactStore,
    BootstrapStore,
    DeliveryStore,
    DeviceStore,
    KeyStore,
    LeaseStore,
    NodeStore,
    ObservationStore,
    OscoreStore,
    RegistrationStore,
    RequestQueue,
    RolloutStore,
    SecurityStore,
    Transaction,
    TrustStore,
)
from .store import Store

__all__ = [
    "ArtifactStore",
    "BootstrapStore",
    "DeliveryStore",
    "DeviceStore",
    "KeyStore",
    "LeaseStore",
    "NodeStore",
    "ObservationStore",
    "OscoreStore",
    "RegistrationStore",
    "RequestQueue",
    "RolloutStore",
    "SecurityStore",
    "Store",
    "Transaction",
    "TrustStore",
    "WriteBatcher",
]
