"""Package signing keys in service: the keyring's state, the keys each device trusts, the
package each device gets, and the handover of trust to a new key.

- A device's package is its artifact signed with the newest key the device trusts that is not
  retired: the compiled package itself, or a copy re-signed once per (artifact, key) and stored
  beside it as <packages>/<id>.pkg. A device that trusts none of those keys gets no package.
- What a device trusts is what it reports in /32100/0/9 when it is provisioned; a device
  without that resource (or known from before it existed) trusts the original key only.
- Rotation adds a new active key. Each registered device that lacks it and lists /32100/0/10
  (Discover) is sent a trust statement for it, signed by the newest key it trusts; what it then
  reports in /32100/0/9 is recorded. Devices that update or register later get theirs then.
- A key is retired only when no known device trusts it alone (unless forced), never while
  active; signing-key.pub.pem then names the oldest key still in use.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..compiler.package import package_key_id, resign, trust_statement
from ..compiler.service import Layout
from ..compiler.signing import Keyring, Signer, load_public_key
from ..core.artifact import StoredArtifact
from ..core.content_format import ContentFormat
from ..core.errors import ResponseCode
from ..core.nodes import MultiResource, ResourceType, SingleResource
from ..core.requests import Response
from ..core.signing import DeviceTrust, SignedPackage, SigningKey
from ..server import Event, EventKind, Lwm2mServer
from ..store import Transaction

log = logging.getLogger(__name__)

TRUSTED_KEYS, TRUST_UPDATE = "/32100/0/9", "/32100/0/10"
PUSHES = 8
"""Trust statements in flight at once."""
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


class KeyRefused(Exception):
    """A key operation the keyring's or the fleet's state forbids (HTTP 409)."""


class NoTrustedKey(Exception):
    """The device trusts no signing key that is still in use."""


@dataclass(frozen=True, slots=True)
class KeyState:
    key: SigningKey
    active: bool
    trusted_by: int
    """Known devices that trust the key."""
    needed_by: int
    """Known devices for which it is the only trusted key in use."""


class TrustService:
    def __init__(self, server: Lwm2mServer) -> None:
        self.server = server
        self.store = server.store
        self.keyring = Keyring(Layout(server.config.data_dir).keys)
        self._keys: list[SigningKey] | None = None
        """The keyring as recorded, oldest first; loaded on first use."""
        self._trust: dict[str, DeviceTrust] = {}
        self._assumed: set[str] = set()
        """Classified devices with no trust record (from before keys rotated): original key."""
        self._signers: dict[str, Signer] = {}
        self._lock = asyncio.Lock()
        self._signing: dict[tuple[str, str], asyncio.Lock] = {}
        self._packages: dict[str, list[SignedPackage]] = {}
        """Signed packages by artifact id, as recorded."""
        self._no_updates: set[str] = set()
        """Devices seen without /32100/0/10 since they registered."""
        self._pushing: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(PUSHES)
        self._listening = server.events.listening(self._on_event)

    def start(self) -> None:
        self._listening.__enter__()

    async def stop(self) -> None:
        self._listening.__exit__(None, None, None)
        tasks = list(self._pushing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # the keyring
    async def keys(self) -> list[SigningKey]:
        if self._keys is None:
            async with self._lock:
                if self._keys is None:
                    await self._load()
        assert self._keys is not None
        return self._keys

    async def _load(self) -> None:
        """Record keys found on disk (a new data dir, an old one, a crash after a rotation),
        then read the keyring's and the devices' state."""
        entries = await asyncio.to_thread(self.keyring.entries)
        async with self.store.transaction() as tx:
            for e in entries:
                await tx.keys.add(SigningKey(e.key_id.hex(), e.position, e.public_key,
                                                      e.created, None))  # fmt: skip
            recorded = await tx.keys.all()
            trusts = await tx.trust.all()
            devices = await tx.devices.all()
        on_disk = {e.key_id.hex() for e in entries}
        self._keys = [k for k in recorded if k.key_id in on_disk]
        self._trust = {t.endpoint: t for t in trusts}
        self._assumed = {d.endpoint for d in devices if d.device_class} - set(self._trust)

    async def states(self) -> list[KeyState]:
        keys = await self.keys()
        return [self._state(k) for k in keys]

    def _state(self, key: SigningKey) -> KeyState:
        assert self._keys is not None
        known = [*self._trust, *self._assumed]
        trusted_by = sum(key.key_id in self.trusted(e) for e in known)
        needed_by = sum([k.key_id for k in self.usable(e)] == [key.key_id] for e in known)
        return KeyState(key, key.key_id == self._keys[-1].key_id, trusted_by, needed_by)

    async def rotate(self) -> KeyState:
        """A new active key; registered devices that can take it are sent a trust statement."""
        await self.keys()
        async with self._lock:
            entry = await asyncio.to_thread(self.keyring.rotate)
            key = SigningKey(entry.key_id.hex(), entry.position, entry.public_key, entry.created,
                             None)  # fmt: skip
            async with self.store.transaction() as tx:
                await tx.keys.add(key)
            assert self._keys is not None
            self._keys = [*self._keys, key]
        log.info("signing key %s is active", key.key_id)
        for registration in self.server.registrations.all():
            self.offer(registration.endpoint)
        return self._state(key)

    async def retire(self, kid: str, *, force: bool = False) -> KeyState:
        """Sign nothing with the key from now on. Refused for the active key, and while a
        known device trusts no other key in use (unless forced: that device is stranded)."""
        keys = await self.keys()
        async with self._lock:
            key = next((k for k in keys if k.key_id == kid.lower()), None)
            if key is None:
                raise LookupError(f"no signing key {kid!r}")
            if key.retired is not None:
                raise KeyRefused(f"key {key.key_id} is already retired")
            if key is keys[-1]:
                raise KeyRefused(f"key {key.key_id} is the active key: rotate first")
            needing = sorted(e for e in [*self._trust, *self._assumed]
                             if [k.key_id for k in self.usable(e)] == [key.key_id])  # fmt: skip
            if needing and not force:
                shown = ", ".join(needing[:5]) + (", ..." if len(needing) > 5 else "")
                raise KeyRefused(f"{len(needing)} device(s) trust no other key in use: {shown} "
                                 "(force=true retires it anyway)")  # fmt: skip
            async with self.store.transaction() as tx:
                retired = await tx.keys.retire(key.key_id)
            self._keys = [retired if k is key else k for k in keys]
            in_use = [k for k in self._keys if k.retired is None]
            await asyncio.to_thread(self.keyring.publish, bytes.fromhex(in_use[0].key_id))
        log.info("signing key %s retired%s", kid, f", stranding {len(needing)}" if needing else "")
        return self._state(retired)

    # what devices trust
    def trusted(self, endpoint: str) -> tuple[str, ...]:
        """Key ids the device trusts (the original key's for a device that does not say)."""
        found = self._trust.get(endpoint)
        if found is not None:
            return found.key_ids
        return (self._keys[0].key_id,) if self._keys else ()

    def usable(self, endpoint: str) -> list[SigningKey]:
        """Keys not retired that the device trusts, newest first."""
        trusted = set(self.trusted(endpoint))
        return [k for k in reversed(self._keys or []) if k.retired is None and k.key_id in trusted]

    async def record(self, endpoint: str, reported: object,
                     tx: Transaction | None = None) -> DeviceTrust:  # fmt: skip
        """What the device reports in /32100/0/9 (a multiple resource of hex key ids); anything
        else means it does not report, so it trusts the original key only. Written in `tx`'s
        transaction when given (the keys must be loaded: `keys()`), else in one of its own."""
        if tx is None:
            await self.keys()
            async with self.store.transaction() as own:
                return await self.record(endpoint, reported, own)
        keys = await self.keys()
        if isinstance(reported, MultiResource):
            ids = [str(v).lower() for v in reported.instances.values()]
            key_ids, says = [i for i in ids if _KEY_ID.match(i)], True
        else:
            key_ids, says = [keys[0].key_id], False
        trust = await tx.trust.record(endpoint, key_ids, reported=says)
        self._trust[endpoint] = trust
        self._assumed.discard(endpoint)
        return trust

    # packages
    async def package_for(self, endpoint: str, artifact: StoredArtifact) -> SignedPackage:
        """The artifact's package signed with the newest key the device trusts (never with a
        key it does not trust, never with a retired one)."""
        await self.keys()
        usable = self.usable(endpoint)
        if not usable:
            trusted = ", ".join(self.trusted(endpoint)) or "none"
            raise NoTrustedKey(f"the device trusts no signing key in use (it trusts {trusted})")
        return await self.signed(artifact, usable[0])

    async def package_ids(self, artifact_id: str) -> set[str]:
        """Every package of the artifact: what /5/0/7 reports when a device runs it."""
        return {artifact_id, *(p.id for p in await self._signed_packages(artifact_id))}

    async def _signed_packages(self, artifact_id: str) -> list[SignedPackage]:
        """The artifact's packages as recorded (kept in memory: this service adds them)."""
        found = self._packages.get(artifact_id)
        if found is None:
            async with self.store.transaction() as tx:
                found = self._packages[artifact_id] = await tx.keys.packages(artifact_id)
        return list(found)

    async def _add_signed(self, package: SignedPackage) -> None:
        async with self.store.transaction() as tx:
            await tx.keys.add_package(package)
        self._packages.pop(package.artifact_id, None)

    async def signed(self, artifact: StoredArtifact, key: SigningKey) -> SignedPackage:
        lock = self._signing.setdefault((artifact.id, key.key_id), asyncio.Lock())
        async with lock:
            packages = await self._signed_packages(artifact.id)
            if not any(p.id == artifact.id for p in packages):  # the compiled package
                kid = await asyncio.to_thread(_key_id_of, Path(artifact.path))
                compiled = SignedPackage(artifact.id, artifact.id, kid, artifact.path,
                                         artifact.created)  # fmt: skip
                await self._add_signed(compiled)
                packages.append(compiled)
            for found in packages:
                if found.key_id == key.key_id and Path(found.path).is_file():
                    return found
            made = await asyncio.to_thread(self._resign, Path(artifact.path), artifact.id, key)
            await self._add_signed(made)
            log.info("package of %s signed with key %s: %s", artifact.id[:12], key.key_id,
                     made.id[:12])  # fmt: skip
            return made

    def _resign(self, source: Path, artifact_id: str, key: SigningKey) -> SignedPackage:
        """(In a thread.) The compiled package, checked against the keyring, signed anew."""
        assert self._keys is not None
        ring = {bytes.fromhex(k.key_id): load_public_key(k.public_key) for k in self._keys}
        package = resign(source.read_bytes(), ring, self._signer(key))
        name = f"{package.id}.pkg"
        self.server.packages.put(name, package.data)
        path = str(self.server.packages.path(name))
        return SignedPackage(package.id, artifact_id, key.key_id, path, time.time())

    def _signer(self, key: SigningKey) -> Signer:
        if key.key_id not in self._signers:
            self._signers[key.key_id] = self.keyring.signer(bytes.fromhex(key.key_id))
        return self._signers[key.key_id]

    # trust handover
    def _on_event(self, event: Event) -> None:
        endpoint = event.registration.endpoint
        if event.kind is EventKind.REGISTRATION:
            self._no_updates.discard(endpoint)  # new firmware may take statements now
        elif event.kind in (EventKind.UPDATED, EventKind.AWAKE):
            self.offer(endpoint)

    def offer(self, endpoint: str) -> None:
        """In the background, send the device a trust statement for the active key if it
        reports what it trusts, lacks the active key and may take statements."""
        if self._keys is None or endpoint in self._pushing or endpoint in self._no_updates:
            return
        trust = self._trust.get(endpoint)
        active = self._keys[-1].key_id
        if trust is None or not trust.reported or active in trust.key_ids:
            return
        if not self.usable(endpoint):
            return  # nothing it trusts may sign any more
        task = asyncio.get_running_loop().create_task(self._push(endpoint),
                                                      name=f"trust {endpoint}")  # fmt: skip
        self._pushing[endpoint] = task
        task.add_done_callback(lambda _t: self._pushing.pop(endpoint, None))

    async def _push(self, endpoint: str) -> None:
        async with self._slots:
            try:
                await self._hand_over(endpoint)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # tried again at the device's next update
                log.info("trust statement to %s failed: %s", endpoint, exc)

    async def _hand_over(self, endpoint: str) -> None:
        assert self._keys is not None
        active = self._keys[-1]
        found = await self.server.discover(endpoint, "/32100/0")
        if not isinstance(found, Response) or not found.success:
            return
        if not any(link.target == TRUST_UPDATE for link in found.links or ()):
            self._no_updates.add(endpoint)
            log.info("%s takes no trust statements (no %s)", endpoint, TRUST_UPDATE)
            return
        usable = self.usable(endpoint)
        if not usable:
            return
        statement = trust_statement(active.public_key, self._signer(usable[0]))
        written = await self.server.write(endpoint, TRUST_UPDATE,
                                          SingleResource(10, ResourceType.OPAQUE, statement),
                                          content_format=ContentFormat.OPAQUE)  # fmt: skip
        if not isinstance(written, Response):
            return  # queued for a sleeping device; checked again when it wakes
        if not written.success:
            if written.code in (ResponseCode.NOT_FOUND, ResponseCode.METHOD_NOT_ALLOWED):
                self._no_updates.add(endpoint)
            log.info("%s refused the trust statement for %s: %s %s", endpoint, active.key_id,
                     written.code.dotted, written.error or "")  # fmt: skip
            return
        read = await self.server.read(endpoint, TRUSTED_KEYS)
        if isinstance(read, Response) and read.success:
            trust = await self.record(endpoint, read.node)
            log.info("%s trusts %s", endpoint, ", ".join(trust.key_ids))


def _key_id_of(path: Path) -> str:
    kid = package_key_id(path.read_bytes())
    if kid is None:
        raise ValueError(f"{path} names no signing key")
    return kid.hex()

