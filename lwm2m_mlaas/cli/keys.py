"""`mlaas keys`: the package signing keys, through the REST API: list, rotate, retire."""

from __future__ import annotations

import json
import time
import urllib.parse

import click

from .remote import as_json, client, emit, table_of


@click.group()
def keys() -> None:
    """Package signing keys: list, rotate, retire."""


@keys.command("list")
@as_json
@click.pass_context
def keys_list(ctx: click.Context, json_output: bool) -> None:
    """Every signing key: active or retired, devices that trust it and that need it."""
    found = client(ctx).get("/api/mlaas/keys")
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} signing keys", ("id", "created", "state", "trusted by", "needed by"),
        [(k["id"], _when(k["created"]), _state(k), k["trusted_by"], k["needed_by"])
         for k in rows]))  # fmt: skip


@keys.command("rotate")
@as_json
@click.pass_context
def keys_rotate(ctx: click.Context, json_output: bool) -> None:
    """Add a new active key; devices that can take it are told to trust it."""
    key = client(ctx).call("POST", "/api/mlaas/keys/rotate")
    if json_output:
        click.echo(json.dumps(key, indent=2))
    else:
        click.echo(f"key {key['id']} is active; {key['trusted_by']} devices trust it so far")


@keys.command("retire")
@click.argument("kid")
@click.option("--force", is_flag=True, help="retire even if a device trusts no other key")
@click.pass_context
def keys_retire(ctx: click.Context, kid: str, force: bool) -> None:
    """Sign nothing more with key KID (refused while a device needs it, unless --force)."""
    path = f"/api/mlaas/keys/{urllib.parse.quote(kid, safe='')}/retire"
    key = client(ctx).call("POST", path, {"force": "true" if force else None})
    stranded = f"; {key['needed_by']} devices trust no other key" if key["needed_by"] else ""
    click.echo(f"key {key['id']} retired{stranded}")


def _state(key: dict[str, object]) -> str:
    if key["retired"] is not None:
        return "retired"
    return "active" if key["active"] else "in use"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
