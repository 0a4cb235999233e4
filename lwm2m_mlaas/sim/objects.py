"""A simulated device's object tree: values typed by the object model, read and written as
core nodes, with execute handlers and change listeners (for observations)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..core.errors import Lwm2mError, ResponseCode
from ..core.linkformat import Link
from ..core.model import ObjectRegistry, ResourceModel
from ..core.nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    Resource,
    ResourceInstance,
    SingleResource,
    Value,
)
from ..core.paths import Lwm2mPath

Executor = Callable[[str], None]
ACCOUNT_OBJECTS = (0, 1, 21)
"""Security, Server and OSCORE: what a bootstrap configures."""
SECURITY_OBJECTS = (0, 21)
"""Security and OSCORE: for bootstrap servers only."""
Writer = Callable[[Lwm2mPath, Value | Mapping[int, Value]], None]


def not_found(path: Lwm2mPath) -> Lwm2mError:
    return Lwm2mError(f"{path} not found", code=ResponseCode.NOT_FOUND)


def not_allowed(path: Lwm2mPath, operation: str) -> Lwm2mError:
    return Lwm2mError(f"{operation} not allowed on {path}", code=ResponseCode.METHOD_NOT_ALLOWED)


@dataclass
class ObjectTree:
    """Instances as {object: {instance: {resource: value or {ri: value}}}}."""

    model: ObjectRegistry
    data: dict[int, dict[int, dict[int, Value | dict[int, Value]]]] = field(default_factory=dict)
    executors: dict[tuple[int, int, int], Executor] = field(default_factory=dict)
    writers: dict[tuple[int, int], Writer] = field(default_factory=dict)
    """Called after a server write to a resource (object, resource)."""
    listeners: list[Callable[[Lwm2mPath], None]] = field(default_factory=list)
    attributes: dict[Lwm2mPath, dict[str, str]] = field(default_factory=dict)

    # local (device-side) access
    def set(self, path: str | Lwm2mPath, value: Value | dict[int, Value]) -> None:
        p = Lwm2mPath.parse(path) if isinstance(path, str) else path
        assert p.is_resource, "set() takes a resource path"
        o, i, r = p.ids
        instance = self.data.setdefault(o, {}).setdefault(i, {})
        if instance.get(r) == value:
            return
        instance[r] = value
        self.changed(p)

    def get(self, path: str | Lwm2mPath) -> Value | dict[int, Value]:
        o, i, r = (Lwm2mPath.parse(path) if isinstance(path, str) else path).ids
        return self.data[o][i][r]

    def changed(self, path: Lwm2mPath) -> None:
        for listener in list(self.listeners):
            listener(path)

    def on_execute(self, path: str | Lwm2mPath, handler: Executor) -> None:
        o, i, r = (Lwm2mPath.parse(path) if isinstance(path, str) else path).ids
        self.executors[(o, i, r)] = handler

    def on_write(self, object_id: int, resource_id: int, handler: Writer) -> None:
        self.writers[(object_id, resource_id)] = handler

    # server operations
    def _resource_model(self, path: Lwm2mPath) -> ResourceModel:
        assert path.object_id is not None and path.resource_id is not None
        model = self.model.resource(path.object_id, path.resource_id)
        if model is None:
            raise not_found(path)
        return model

    def _resource(self, o: int, i: int, r: int, value: Value | dict[int, Value]) -> Resource:
        model = self._resource_model(Lwm2mPath.of(o, i, r))
        if isinstance(value, dict):
            return MultiResource(r, model.type, value)
        return SingleResource(r, model.type, value)

    def _instance(self, o: int, i: int, readable_only: bool) -> ObjectInstance:
        resources = []
        for r, value in sorted(self.data[o][i].items()):
            model = self._resource_model(Lwm2mPath.of(o, i, r))
            if readable_only and not model.readable:
                continue
            resources.append(self._resource(o, i, r, value))
        return ObjectInstance.of(i, *resources)

    def read(self, path: Lwm2mPath) -> Node:
        ids = path.ids
        if not ids:
            raise not_allowed(path, "read")
        o = ids[0]
        if o not in self.data:
            raise not_found(path)
        if len(ids) == 1:
            return Lwm2mObject.of(o, *(self._instance(o, i, True) for i in sorted(self.data[o])))
        i = ids[1]
        if i not in self.data[o]:
            raise not_found(path)
        if len(ids) == 2:
            return self._instance(o, i, True)
        r = ids[2]
        model = self._resource_model(path)
        if r not in self.data[o][i]:
            raise not_found(path)
        if not model.readable:
            raise not_allowed(path, "read")
        value = self.data[o][i][r]
        if len(ids) == 3:
            return self._resource(o, i, r, value)
        if not isinstance(value, dict) or ids[3] not in value:
            raise not_found(path)
        return ResourceInstance(ids[3], model.type, value[ids[3]])

    def read_composite(self, paths: Iterable[Lwm2mPath]) -> dict[Lwm2mPath, Node]:
        """Read-Composite: the nodes of the paths that can be read; the root stands for every
        object but Security and OSCORE. A path absent or not readable is left out
        (LwM2M 1.1 6.3.7: partial presence)."""
        out: dict[Lwm2mPath, Node] = {}
        for path in paths:
            targets = [Lwm2mPath.of(o) for o in sorted(self.data) if o not in SECURITY_OBJECTS] \
                if path.is_root else [path]  # fmt: skip
            for target in targets:
                if target.object_id in SECURITY_OBJECTS:
                    raise Lwm2mError("Security and OSCORE objects are for bootstrap servers only",
                                     code=ResponseCode.UNAUTHORIZED)  # fmt: skip
                try:
                    out[target] = self.read(target)
                except Lwm2mError as exc:
                    if exc.code not in (ResponseCode.NOT_FOUND, ResponseCode.METHOD_NOT_ALLOWED):
                        raise
        return out

    def write_composite(self, nodes: Mapping[Lwm2mPath, Node]) -> None:
        """Write-Composite: resources (replaced) and resource instances (added or replaced);
        every target is checked before any is written."""
        for path in nodes:
            if not (path.is_resource or path.is_resource_instance):
                raise Lwm2mError(f"composite write targets resources, not {path}",
                                 code=ResponseCode.BAD_REQUEST)  # fmt: skip
            o, i, r = path.ids[:3]
            if o in SECURITY_OBJECTS:
                raise Lwm2mError("Security and OSCORE objects are for bootstrap servers only",
                                 code=ResponseCode.UNAUTHORIZED)  # fmt: skip
            if o not in self.data or i not in self.data[o]:
                raise not_found(path)
            if not self._resource_model(Lwm2mPath.of(o, i, r)).writable:
                raise not_allowed(path, "write")
        for path, node in nodes.items():
            self.write(path, node, replace=True)

    def leaf_paths(self, path: Lwm2mPath) -> Iterator[Lwm2mPath]:
        for o, instances in sorted(self.data.items()):
            for i, resources in sorted(instances.items()):
                for r in sorted(resources):
                    leaf = Lwm2mPath.of(o, i, r)
                    if leaf.startswith(path) or path.startswith(leaf):
                        yield leaf

    def write(self, path: Lwm2mPath, node: Node, *, replace: bool, bootstrap: bool = False) -> None:
        """Apply a server Write (replace or partial update) to `path`."""
        if path.is_object or path.is_root:
            raise not_allowed(path, "write")
        o, i = path.ids[0], path.ids[1]
        if o not in self.data or i not in self.data[o]:
            raise not_found(path)
        if path.is_object_instance:
            if not isinstance(node, ObjectInstance):
                raise Lwm2mError(
                    "object instance write needs an instance payload", code=ResponseCode.BAD_REQUEST
                )
            resources = list(node.resources.values())
        elif path.is_resource:
            if not isinstance(node, (SingleResource, MultiResource)):
                raise Lwm2mError(
                    "resource write needs a resource payload", code=ResponseCode.BAD_REQUEST
                )
            resources = [node]
        else:
            resources = [self._merge_instance(path, node)]
        for resource in resources:
            model = self._resource_model(Lwm2mPath.of(o, i, resource.id))
            if not model.writable and not bootstrap:
                raise not_allowed(Lwm2mPath.of(o, i, resource.id), "write")
        for resource in resources:
            target = Lwm2mPath.of(o, i, resource.id)
            new: Value | dict[int, Value]
            if isinstance(resource, MultiResource):
                old = self.data[o][i].get(resource.id)
                new = dict(resource.instances)
                if not replace and isinstance(old, dict):
                    new = {**old, **new}
            else:
                new = resource.value
            self.set(target, new)
            writer = self.writers.get((o, resource.id))
            if writer is not None:
                writer(target, new)

    def _merge_instance(self, path: Lwm2mPath, node: Node) -> MultiResource:
        if not isinstance(node, ResourceInstance):
            raise Lwm2mError(
                "resource instance write needs a resource instance payload",
                code=ResponseCode.BAD_REQUEST,
            )
        o, i, r, _ = path.ids
        model = self._resource_model(path.parent)
        old = self.data[o][i].get(r)
        values = dict(old) if isinstance(old, dict) else {}
        values[node.id] = node.value
        return MultiResource(r, model.type, values)

    def execute(self, path: Lwm2mPath, arguments: str) -> None:
        if not path.is_resource:
            raise not_allowed(path, "execute")
        model = self._resource_model(path)
        o, i, r = path.ids
        if o not in self.data or i not in self.data[o]:
            raise not_found(path)
        if not model.executable:
            raise not_allowed(path, "execute")
        handler = self.executors.get((o, i, r))
        if handler is not None:
            handler(arguments)

    def create(self, path: Lwm2mPath, node: Node) -> int:
        if not path.is_object or path.object_id is None:
            raise not_allowed(path, "create")
        o = path.object_id
        object_model = self.model.object(o)
        if object_model is None:
            raise not_found(path)
        instances = self.data.setdefault(o, {})
        if isinstance(node, Lwm2mObject) and len(node.instances) == 1:
            node = next(iter(node.instances.values()))
        if isinstance(node, ObjectInstance):
            instance_id, resources = node.id, list(node.resources.values())
        else:
            raise Lwm2mError("create needs one object instance", code=ResponseCode.BAD_REQUEST)
        if instance_id in instances or (instances and not object_model.multiple):
            raise Lwm2mError(f"/{o}/{instance_id} exists", code=ResponseCode.BAD_REQUEST)
        instances[instance_id] = {}
        for resource in resources:
            value: Value | dict[int, Value] = (
                dict(resource.instances) if isinstance(resource, MultiResource) else resource.value
            )
            self.set(Lwm2mPath.of(o, instance_id, resource.id), value)
        self.changed(Lwm2mPath.of(o))
        return instance_id

    def delete(self, path: Lwm2mPath) -> None:
        """Delete an object instance, or (LwM2M 1.1) one instance of a writable multiple
        resource."""
        if path.is_resource_instance:
            o, i, r, ri = path.ids
            values = self.data.get(o, {}).get(i, {}).get(r)
            if not isinstance(values, dict) or ri not in values:
                raise not_found(path)
            if not self._resource_model(path.parent).writable:
                raise not_allowed(path, "delete")
            self.set(path.parent, {k: v for k, v in values.items() if k != ri})
            return
        if not path.is_object_instance:
            raise not_allowed(path, "delete")
        o, i = path.ids
        if o not in self.data or i not in self.data[o]:
            raise not_found(path)
        object_model = self.model.object(o)
        if object_model is None or not object_model.multiple or (o == 1 and i == 0):
            raise not_allowed(path, "delete")
        del self.data[o][i]
        self.changed(Lwm2mPath.of(o))

    # bootstrap interface (LwM2M 1.1 6.1.7)
    def bootstrap_write(self, path: Lwm2mPath, node: Node) -> None:
        """Bootstrap-Write: creates the instance when it is missing, writes read-only and
        Security object resources too."""
        if path.is_root:
            raise not_allowed(path, "bootstrap write")
        o = path.ids[0]
        if self.model.object(o) is None:
            raise not_found(path)
        if path.is_object:
            if not isinstance(node, Lwm2mObject):
                raise Lwm2mError("object write needs an object payload",
                                 code=ResponseCode.BAD_REQUEST)  # fmt: skip
            for instance in node.instances.values():
                self.bootstrap_write(path.child(instance.id), instance)
            return
        created = path.ids[1] not in self.data.setdefault(o, {})
        self.data[o].setdefault(path.ids[1], {})
        try:
            self.write(path, node, replace=True, bootstrap=True)
        except Lwm2mError:
            if created:  # a refused write leaves nothing behind
                del self.data[o][path.ids[1]]
            raise
        if created:
            self.changed(Lwm2mPath.of(o))

    def bootstrap_delete(self, path: Lwm2mPath) -> None:
        """Bootstrap-Delete of /, /0, /1, /21 or one of their instances; the Bootstrap-Server
        account and the other objects' instances stay."""
        if path.is_root:
            targets = [Lwm2mPath.of(o, i) for o in ACCOUNT_OBJECTS
                       for i in list(self.data.get(o, {}))]  # fmt: skip
        elif path.is_object:
            targets = [Lwm2mPath.of(path.ids[0], i) for i in list(self.data.get(path.ids[0], {}))]
        elif path.is_object_instance:
            targets = [path]
        else:
            raise Lwm2mError(f"bootstrap delete of {path}", code=ResponseCode.BAD_REQUEST)
        for target in targets:
            o, i = target.ids
            if o not in ACCOUNT_OBJECTS:
                raise Lwm2mError(f"bootstrap delete keeps {target}", code=ResponseCode.BAD_REQUEST)
            if o == 0 and self.data.get(o, {}).get(i, {}).get(1) is True:
                if path.is_object_instance:
                    raise Lwm2mError("the Bootstrap-Server account stays",
                                     code=ResponseCode.BAD_REQUEST)  # fmt: skip
                continue
            if self.data.get(o, {}).pop(i, None) is not None:
                self.changed(Lwm2mPath.of(o))

    def discover(self, path: Lwm2mPath) -> tuple[Link, ...]:
        """Discover answer (LwM2M 1.1 6.3.4): the target with its attributes, then its children;
        a resource also carries the attributes it inherits, and lists its instances."""
        if path.is_root or path.object_id not in self.data:
            raise not_found(path)
        links: list[Link] = []
        o = path.ids[0]
        if path.is_object:
            version = self.model.object(o)
            ver = version.version if version else "1.0"
            links.append(
                Link(
                    str(path),
                    {**({"ver": ver} if ver != "1.0" else {}), **self.attributes.get(path, {})},
                )
            )
            instances = sorted(self.data[o])
        else:
            if path.ids[1] not in self.data[o]:
                raise not_found(path)
            instances = [path.ids[1]]
        for i in instances:
            instance_path = Lwm2mPath.of(o, i)
            if path.is_resource and path.resource_id not in self.data[o][i]:
                raise not_found(path)
            if not path.is_resource:
                links.append(Link(str(instance_path), self.attributes.get(instance_path, {})))
            for r, value in sorted(self.data[o][i].items()):
                res_path = instance_path.child(r)
                if path.is_resource and res_path != path:
                    continue
                attrs: dict[str, str | None] = {}
                if path.is_resource:  # (with what it inherits from its instance and object)
                    for level in (Lwm2mPath.of(o), instance_path):
                        attrs |= self.attributes.get(level, {})
                attrs |= self.attributes.get(res_path, {})
                if isinstance(value, dict):
                    attrs["dim"] = str(len(value))
                links.append(Link(str(res_path), attrs))
                if path.is_resource and isinstance(value, dict):
                    links.extend(Link(str(res_path.child(ri)),
                                      dict(self.attributes.get(res_path.child(ri), {})))
                                 for ri in sorted(value))  # fmt: skip
        return tuple(links)

    def _exists(self, path: Lwm2mPath) -> bool:
        ids = path.ids
        if not ids or ids[0] not in self.data:
            return False
        if len(ids) > 1 and ids[1] not in self.data[ids[0]]:
            return False
        if len(ids) > 2 and ids[2] not in self.data[ids[0]][ids[1]]:
            return False
        if len(ids) > 3:
            value = self.data[ids[0]][ids[1]][ids[2]]
            return isinstance(value, dict) and ids[3] in value
        return True

    def write_attributes(self, path: Lwm2mPath, attributes: Mapping[str, str | None]) -> None:
        if not self._exists(path):
            raise not_found(path)
        for name, value in attributes.items():  # validate all before changing any
            if name not in ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"):
                raise Lwm2mError(f"unknown attribute {name!r}", code=ResponseCode.BAD_REQUEST)
            if value is None or value == "":
                continue
            try:
                float(value)
            except ValueError:
                raise Lwm2mError(
                    f"attribute {name}={value!r} is not a number", code=ResponseCode.BAD_REQUEST
                ) from None
        current = self.attributes.setdefault(path, {})
        for name, value in attributes.items():
            if value is None or value == "":
                current.pop(name, None)
            else:
                current[name] = value

    def attribute(self, path: Lwm2mPath, name: str) -> float | None:
        """The effective attribute: the closest one on the path or its ancestors."""
        probe = path
        while True:
            value = self.attributes.get(probe, {}).get(name)
            if value is not None:
                return float(value)
            if probe.is_object or probe.is_root:
                return None
            probe = probe.parent
