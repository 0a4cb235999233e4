"""Operator commands: clients of the REST API, so they work against a remote server
(`mlaas --server URL --token T ...`). Every listing has --json."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .client import ApiClient, ApiFailure
from .output import progress_bars

console = Console()
as_json = click.option("--json", "json_output", is_flag=True, help="machine-readable output")


def client(ctx: click.Context) -> ApiClient:
    found = ctx.find_object(ApiClient)
    assert found is not None
    return found


def emit(data: Any, json_output: bool, table: Callable[[Any], Table]) -> None:
    if json_output:
        click.echo(json.dumps(data, indent=2))
    else:
        console.print(table(data))


def table_of(title: str, columns: Iterable[str], rows: Iterable[Iterable[object]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


# devices
@click.group()
def devices() -> None:
    """Registered devices: list, show, tag."""


@devices.command("list")
@click.option("--class", "device_class", help="only this device class")
@click.option("--tag", help="only devices with this tag")
@click.option("--task", help="only devices asking for this task")
@click.option("--endpoint", help="only endpoints matching this glob, e.g. 'sensor-*'")
@click.option("--stage", help="only this provisioning stage (running, failed, ...)")
@as_json
@click.pass_context
def devices_list(ctx: click.Context, device_class: str | None, tag: str | None,
                 task: str | None, endpoint: str | None, stage: str | None,
                 json_output: bool) -> None:  # fmt: skip
    """The registered fleet with class, tags and provisioning stage."""
    found = client(ctx).get("/api/mlaas/devices", **{"class": device_class, "tag": tag,
                            "task": task, "endpoint": endpoint, "stage": stage})  # fmt: skip
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} devices", ("endpoint", "class", "tags", "stage", "model", "address", "lt"),
        [(d["endpoint"], d["class"], ",".join(d["tags"]),
          (d["provisioning"] or {}).get("stage"), (d["provisioning"] or {}).get("model"),
          d["registration"]["address"], d["registration"]["lifetime"]) for d in rows]))


@devices.command("show")
@click.argument("endpoint")
@as_json
@click.pass_context
def devices_show(ctx: click.Context, endpoint: str, json_output: bool) -> None:
    """One device: registration, provisioning, deliveries and rollouts."""
    found = client(ctx).get(f"/api/mlaas/devices/{_quote(endpoint)}")

    def table(d: dict[str, Any]) -> Table:
        registration = d["registration"]
        rows = [("endpoint", d["endpoint"]), ("class", d["class"]), ("tags", ",".join(d["tags"])),
                ("address", registration["address"]), ("LwM2M", registration["lwM2mVersion"]),
                ("lifetime", registration["lifetime"]), ("queue mode", registration["queuemode"])]
        for key, value in (d["provisioning"] or {}).items():
            rows.append((f"provisioning {key}", value))
        rows += [(f"delivery {x['id']}", f"{x['state']} {x['model']} ({x['mode']})")
                 for x in d["deliveries"]]
        rows += [(f"rollout {x['id']}", f"{x['state']}: {x['endpoint']} {x['reason'] or ''}")
                 for x in d["rollouts"]]  # fmt: skip
        return table_of(d["endpoint"], ("", ""), rows)

    emit(found, json_output, table)


@devices.command("tag")
@click.argument("endpoint")
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def devices_tag(ctx: click.Context, endpoint: str, tags: tuple[str, ...]) -> None:
    """Add tags to a device (usable in rollout selectors and assignments)."""
    result: list[str] = []
    for tag in tags:
        result = client(ctx).call("POST", f"/api/mlaas/devices/{_quote(endpoint)}/tags/"
                                  f"{_quote(tag)}")  # fmt: skip
    click.echo(f"{endpoint}: {', '.join(result)}")


@devices.command("untag")
@click.argument("endpoint")
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
def devices_untag(ctx: click.Context, endpoint: str, tags: tuple[str, ...]) -> None:
    """Remove tags from a device."""
    result: list[str] = []
    for tag in tags:
        result = client(ctx).call("DELETE", f"/api/mlaas/devices/{_quote(endpoint)}/tags/"
                                  f"{_quote(tag)}")  # fmt: skip
    click.echo(f"{endpoint}: {', '.join(result) or '(no tags)'}")


# device management passthrough (Leshan's routes)
def _lwm2m(ctx: click.Context, answer: dict[str, Any], json_output: bool) -> None:
    if json_output:
        click.echo(json.dumps(answer, indent=2))
    elif answer.get("delayed"):
        click.echo(f"queued as request {answer['requestId']}: the device sleeps")
    else:
        click.echo(answer["status"] + (f": {answer['errormessage']}"
                                       if answer.get("errormessage") else ""))  # fmt: skip
        if "content" in answer:
            console.print(_content_table(answer["content"]))
    if answer.get("failure"):
        ctx.exit(1)


def _content_table(node: dict[str, Any]) -> Table:
    rows: list[tuple[str, str, str]] = []

    def walk(n: dict[str, Any], prefix: str) -> None:
        here = f"{prefix}/{n.get('id', '')}"
        if n["kind"] in ("obj", "instance"):
            for child in n.get("instances", n.get("resources", [])):
                walk(child, here)
        elif n["kind"] == "multiResource":
            rows.extend((f"{here}/{k}", n["type"], str(v)) for k, v in n["values"].items())
        else:
            rows.append((here, n["type"], str(n["value"])))

    walk(node, "")
    return table_of("", ("path (relative)", "type", "value"), rows)


@click.command("read")
@click.argument("endpoint")
@click.argument("path")
@click.option("--format", "content_format", help="TLV, TEXT, SENML_CBOR, SENML_JSON, JSON...")
@as_json
@click.pass_context
def read(ctx: click.Context, endpoint: str, path: str, content_format: str | None,
         json_output: bool) -> None:  # fmt: skip
    """Read an object, instance or resource of a device."""
    answer = client(ctx).get(f"/api/clients/{_quote(endpoint)}/{path.strip('/')}",
                             format=content_format)  # fmt: skip
    _lwm2m(ctx, answer, json_output)


@click.command("write")
@click.argument("endpoint")
@click.argument("path")
@click.argument("value")
@click.option("--node", is_flag=True, help="VALUE is a Leshan JSON node, not a text value")
@click.option("--format", "content_format", help="content format of the write")
@as_json
@click.pass_context
def write(ctx: click.Context, endpoint: str, path: str, value: str, node: bool,
          content_format: str | None, json_output: bool) -> None:  # fmt: skip
    """Write a resource (a text value, typed by the object model) or a JSON node."""
    route = f"/api/clients/{_quote(endpoint)}/{path.strip('/')}"
    query = {"format": content_format}
    if node:
        answer = client(ctx).call("PUT", route, query, body=_json_arg(value))
    else:
        answer = client(ctx).call("PUT", route, query, data=value.encode(),
                                  content_type="text/plain")  # fmt: skip
    _lwm2m(ctx, answer, json_output)


@click.command("exec")
@click.argument("endpoint")
@click.argument("path")
@click.argument("arguments", required=False, default="")
@as_json
@click.pass_context
def execute(ctx: click.Context, endpoint: str, path: str, arguments: str,
            json_output: bool) -> None:  # fmt: skip
    """Execute a resource (e.g. /3/0/4, reboot) with optional arguments."""
    answer = client(ctx).call("POST", f"/api/clients/{_quote(endpoint)}/{path.strip('/')}",
                              data=arguments.encode(), content_type="text/plain")  # fmt: skip
    _lwm2m(ctx, answer, json_output)


@click.command("observe")
@click.argument("endpoint")
@click.argument("path")
@click.option("--count", type=int, default=0, help="stop after this many notifications")
@as_json
@click.pass_context
def observe(ctx: click.Context, endpoint: str, path: str, count: int,
            json_output: bool) -> None:  # fmt: skip
    """Observe a resource and print each notification (Ctrl-C cancels the observation)."""
    api = client(ctx)
    route = f"/api/clients/{_quote(endpoint)}/{path.strip('/')}/observe"
    stream = api.events(endpoint)
    answer = api.call("POST", route)
    _lwm2m(ctx, answer, json_output)
    target = "/" + path.strip("/")
    seen = 0
    try:
        for name, data in stream:
            if name != "NOTIFICATION" or data.get("res") != target:
                continue
            seen += 1
            if json_output:
                click.echo(json.dumps(data))
            else:
                value = data["val"].get("value", data["val"].get("values"))
                click.echo(f"{time.strftime('%H:%M:%S')} {target} = {value}")
            if count and seen >= count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        api.call("DELETE", route, {"active": ""})


# models, classes, deliveries
@click.group()
def models() -> None:
    """The model zoo and imported models on the server."""


@models.command("list")
@as_json
@click.pass_context
def models_list(ctx: click.Context, json_output: bool) -> None:
    """Zoo variants (built or not) and imported models."""
    found = client(ctx).get("/api/mlaas/models")
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} models", ("model", "task", "size", "kind", "version", "float quality"),
        [(m["name"], m["task"], m.get("variant"), m.get("kind", ""),
          m.get("version", "not built"), _quality(m.get("float_quality"))) for m in rows]))


@models.command("show")
@click.argument("name")
@as_json
@click.pass_context
def models_show(ctx: click.Context, name: str, json_output: bool) -> None:
    """One built or imported model."""
    found = client(ctx).get(f"/api/mlaas/models/{_quote(name)}")
    emit(found, json_output, lambda m: table_of(name, ("", ""), list(m.items())))


@models.command("build")
@click.argument("names", nargs=-1, required=True)
@as_json
@click.pass_context
def models_build(ctx: click.Context, names: tuple[str, ...], json_output: bool) -> None:
    """Train zoo variants on the server (cached; instant when built)."""
    built = []
    with progress_bars() as progress:
        bar = progress.add_task("training", total=len(names))
        for name in names:
            progress.update(bar, description=f"training {name}")
            built.append(client(ctx).call("POST", f"/api/mlaas/models/{_quote(name)}/build"))
            progress.advance(bar)
    emit(built, json_output, lambda rows: table_of(
        f"{len(rows)} built", ("model", "task", "version", "float quality"),
        [(m["name"], m["task"], m["version"], _quality(m["float_quality"])) for m in rows]))


@models.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--task", required=True, help="a zoo task, or any name with --kind")
@click.option("--name", help="model name (default: from the file name)")
@click.option("--kind", type=click.Choice(["classification", "regression", "anomaly"]))
@as_json
@click.pass_context
def models_import(ctx: click.Context, path: Path, task: str, name: str | None,
                  kind: str | None, json_output: bool) -> None:  # fmt: skip
    """Upload an int8 .tflite or a .keras model into the server's zoo."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ApiFailure(f"import failed: cannot read {path}: {exc.strerror}") from None
    content_type = "application/vnd.keras" if path.suffix == ".keras" else \
        "application/octet-stream"  # fmt: skip
    model = client(ctx).call("POST", "/api/mlaas/models",
                             {"task": task, "name": name or path.stem, "kind": kind},
                             data=data, content_type=content_type)  # fmt: skip
    if json_output:
        click.echo(json.dumps(model, indent=2))
    else:
        click.echo(f"imported {model['name']} version {model['version']} ({model['kind']}, "
                   f"task {model['task']})")  # fmt: skip


@click.group()
def classes() -> None:
    """Device classes the compiler targets."""


@classes.command("list")
@as_json
@click.pass_context
def classes_list(ctx: click.Context, json_output: bool) -> None:
    """The device class catalogue (RAM and flash in KB)."""
    found = client(ctx).get("/api/mlaas/classes")
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} device classes (RAM and flash in KB)",
        ("class", "core", "MHz", "RAM", "ML RAM", "ML flash", "ops", "delivery"),
        [(c["name"], c["core"], c["clock_mhz"], c["ram_bytes"] // 1024,
          c["ml_ram_bytes"] // 1024, c["ml_flash_bytes"] // 1024, len(c["ops"]), c["delivery"])
         for c in rows]))


@click.group()
def deliveries() -> None:
    """Package deliveries over object 5."""


@deliveries.command("list")
@click.option("--endpoint", help="only this device")
@click.option("--state", help="only this state (pending, transferring, succeeded, failed...)")
@click.option("--active", is_flag=True, help="only deliveries still under way")
@as_json
@click.pass_context
def deliveries_list(ctx: click.Context, endpoint: str | None, state: str | None, active: bool,
                    json_output: bool) -> None:  # fmt: skip
    """Deliveries, oldest first."""
    found = client(ctx).get("/api/mlaas/deliveries", endpoint=endpoint, state=state,
                            active="true" if active else None)  # fmt: skip
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} deliveries",
        ("id", "endpoint", "model", "class", "mode", "state", "attempts", "result", "reason"),
        [(d["id"], d["endpoint"], d["model"], d["device_class"], d["mode"], d["state"],
          d["attempts"], d["result"], d["reason"]) for d in rows]))


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _quality(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


# DTLS credentials
@click.group()
def security() -> None:
    """Per-endpoint credentials: DTLS-PSK (CoAPs) or OSCORE."""


@security.command("list")
@click.option("--show-keys", is_flag=True, help="print the keys in the table too")
@as_json
@click.pass_context
def security_list(ctx: click.Context, show_keys: bool, json_output: bool) -> None:
    """Endpoints with credentials (keys hidden in the table unless --show-keys)."""
    found = client(ctx).get("/api/security/clients")

    def row(s: dict[str, Any]) -> tuple[str, str, str, str]:
        if "oscore" in s:
            o = s["oscore"]
            return s["endpoint"], "oscore", f"rid {o['rid']} sid {o['sid']}", o["msec"]
        details = s["tls"]["details"]
        return s["endpoint"], s["tls"]["mode"], details["identity"], details["key"]

    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} endpoints with credentials", ("endpoint", "mode", "identity", "key"),
        [(*row(s)[:3], row(s)[3] if show_keys else "(hidden)") for s in rows]))


@security.command("add")
@click.argument("endpoint")
@click.option("--identity", help="PSK identity (up to 32 bytes)")
@click.option("--key", help="pre-shared key in hex (up to 16 bytes)")
@click.option("--oscore-secret", help="OSCORE master secret in hex (instead of a PSK)")
@click.option("--oscore-salt", default="", help="OSCORE master salt in hex")
@click.option("--oscore-rid", help="the device's OSCORE Sender ID in hex")
@click.option("--oscore-sid", help="this server's OSCORE Sender ID in hex")
@click.pass_context
def security_add(ctx: click.Context, endpoint: str, identity: str | None, key: str | None,
                 oscore_secret: str | None, oscore_salt: str, oscore_rid: str | None,
                 oscore_sid: str | None) -> None:  # fmt: skip
    """Give an endpoint PSK or OSCORE credentials (replacing any it had); from then on it must
    use DTLS or OSCORE."""
    if oscore_secret is not None:
        if identity or key or oscore_rid is None or oscore_sid is None:
            raise click.UsageError("OSCORE takes --oscore-secret, --oscore-rid and --oscore-sid "
                                   "(and no --identity or --key)")  # fmt: skip
        oscore = {"sid": oscore_sid, "rid": oscore_rid, "msec": oscore_secret,
                  "msalt": oscore_salt}  # fmt: skip
        client(ctx).call("PUT", "/api/security/clients",
                         body={"endpoint": endpoint, "oscore": oscore})
        click.echo(f"{endpoint}: OSCORE, device Sender ID {oscore_rid}")
        return
    if identity is None or key is None:
        raise click.UsageError("give --identity and --key (PSK) or the --oscore-* options")
    client(ctx).call("PUT", "/api/security/clients", body={
        "endpoint": endpoint, "tls": {"mode": "psk", "details": {"identity": identity,
                                                                "key": key}}})  # fmt: skip
    click.echo(f"{endpoint}: PSK identity {identity}")


@security.command("remove")
@click.argument("endpoint")
@click.pass_context
def security_remove(ctx: click.Context, endpoint: str) -> None:
    """Remove an endpoint's credentials."""
    answer = client(ctx).call("DELETE", f"/api/security/clients/{_quote(endpoint)}")
    if answer == {"message": "not_found"}:
        raise ApiFailure(f"{endpoint} has no credentials")
    click.echo(f"{endpoint}: credentials removed")


# bootstrap configurations
@click.group("bootstrap")
def bootstrap() -> None:
    """Bootstrap configurations: factory credentials and the LwM2M servers devices receive."""


@bootstrap.command("list")
@as_json
@click.pass_context
def bootstrap_list(ctx: click.Context, json_output: bool) -> None:
    """Endpoints with a bootstrap configuration, and how their last bootstrap went."""
    found = client(ctx).get("/api/mlaas/bootstrap")
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} bootstrap configurations",
        ("endpoint", "bootstrap identity", "LwM2M servers", "last bootstrap", "result"),
        [(r["endpoint"], r["identity"] or "(NoSec)", ", ".join(r["servers"]),
          _when(r["last_bootstrap"]), r["last_result"] or "never") for r in rows]))


@bootstrap.command("add")
@click.argument("endpoint")
@click.option("--identity", help="factory bootstrap PSK identity (omit for NoSec)")
@click.option("--key", help="factory bootstrap PSK in hex (up to 16 bytes)")
@click.option("--server-uri", default="", help="the LwM2M server (default: this one)")
@click.option("--dm-identity", default="", help="DM server PSK identity (default: endpoint)")
@click.option("--dm-key", default="", help="DM server PSK in hex (default: generated on the "
              "device's first bootstrap)")
@click.option("--nosec", is_flag=True, help="the LwM2M server account uses NoSec")
@click.option("--lifetime", type=int, default=300, show_default=True)
@click.pass_context
def bootstrap_add(ctx: click.Context, endpoint: str, identity: str | None, key: str | None,
                  server_uri: str, dm_identity: str, dm_key: str, nosec: bool,
                  lifetime: int) -> None:  # fmt: skip
    """Add or replace an endpoint's bootstrap configuration: one LwM2M server account."""
    if (identity is None) != (key is None):
        raise click.UsageError("--identity and --key go together")
    try:
        factory = b"" if key is None else bytes.fromhex(key)
        dm_secret = bytes.fromhex(dm_key)
    except ValueError:
        raise click.UsageError("keys are given in hexadecimal") from None
    bs_mode = "NO_SEC" if identity is None else "PSK"
    dm_mode = "NO_SEC" if nosec else "PSK"
    config = {
        "toDelete": ["/0", "/1"],
        "security": {
            "0": {"uri": "", "bootstrapServer": True, "securityMode": bs_mode,
                  "publicKeyOrId": list((identity or "").encode()), "secretKey": list(factory)},
            "1": {"uri": server_uri, "bootstrapServer": False, "securityMode": dm_mode,
                  "publicKeyOrId": [] if nosec else list(dm_identity.encode()),
                  "secretKey": [] if nosec else list(dm_secret), "serverId": 1},
        },
        "servers": {"0": {"shortId": 1, "lifetime": lifetime, "binding": "U"}},
    }  # fmt: skip
    client(ctx).call("POST", f"/api/bootstrap/{_quote(endpoint)}", body=config)
    click.echo(f"{endpoint}: bootstrap " + (f"PSK identity {identity}" if identity else "NoSec"))


@bootstrap.command("show")
@click.argument("endpoint")
@click.pass_context
def bootstrap_show(ctx: click.Context, endpoint: str) -> None:
    """An endpoint's configuration, in Leshan's JSON form."""
    click.echo(json.dumps(client(ctx).get(f"/api/bootstrap/{_quote(endpoint)}"), indent=2))


@bootstrap.command("remove")
@click.argument("endpoint")
@click.pass_context
def bootstrap_remove(ctx: click.Context, endpoint: str) -> None:
    """Remove an endpoint's bootstrap configuration (its factory credential no longer works)."""
    client(ctx).call("DELETE", f"/api/bootstrap/{_quote(endpoint)}")
    click.echo(f"{endpoint}: bootstrap configuration removed")


def _when(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
