"""The ``servregistry`` command: look at what a registry holds, and run the local emulator.

    servregistry tree sqlite:///$PWD/.demo/registry.db
    servregistry ls etcd://127.0.0.1:2379/service-registry/ prod
    servregistry get etcd://127.0.0.1:2379/ prod web --json
    servregistry emulate servicedirectory --port 9090

Every command takes a registry URL in the forms ``open_registry`` accepts. Each object is shown
with its owner (the value of ``--owner-key``, ``owner`` by default) so that a person can check
what a Pulumi run wrote and what it left alone. Exit status 1 on a registry error, with the
error on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from servregistry import errors
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.model import Endpoint, RegistryObject, require_name
from servregistry.registry import ServiceRegistry, open_registry

app = typer.Typer(
    help="Inspect a service registry (etcd, Cloud Map, Service Directory, SQLite).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

UrlArg = Annotated[str, typer.Argument(help="registry URL, e.g. sqlite:///abs/path.db")]
OwnerKey = Annotated[str, typer.Option("--owner-key", help="metadata key that names the owner")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _open_for_reading(url: str) -> ServiceRegistry:
    """``open_registry``, except that a SQLite file is opened read-only: looking at a registry
    never creates, upgrades or writes the file."""
    if url.partition("://")[0].lower() == "sqlite":
        return SqliteRegistry.from_url(url, read_only=True)
    return open_registry(url)


@contextmanager
def _opened(url: str, **names: str | None) -> Iterator[ServiceRegistry]:
    """The registry ``url`` names, once the name arguments are checked; a refusal is printed
    and exits 1."""
    try:
        for field, name in names.items():
            if name is not None:
                require_name(name, field)
        registry = _open_for_reading(url)
    except (errors.ServiceRegistryError, ImportError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        yield registry
    except errors.ServiceRegistryError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        registry.close()


def _owner(obj: RegistryObject, owner_key: str) -> str:
    owner = obj.metadata.get(owner_key)
    return f"[green]{owner}[/green]" if owner else "[yellow]no owner[/yellow]"


def _meta(obj: RegistryObject, owner_key: str) -> str:
    pairs = [f"{k}={v}" for k, v in sorted(obj.metadata.items()) if k != owner_key]
    return ", ".join(pairs)


def _label(obj: RegistryObject, owner_key: str) -> str:
    where = f" {obj.address}:{obj.port}" if isinstance(obj, Endpoint) else ""
    meta = _meta(obj, owner_key)
    meta = f" [dim]{{{meta}}}[/dim]" if meta else ""
    return f"[bold]{obj.name}[/bold]{where} ({_owner(obj, owner_key)}){meta}"


def _as_dict(obj: RegistryObject) -> dict[str, object]:
    return obj.model_dump()


@app.command()
def tree(
    url: UrlArg,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="show only this namespace")
    ] = None,
    owner_key: OwnerKey = "owner",
    as_json: AsJson = False,
) -> None:
    """Print namespaces, their services and the services' endpoints, with owners."""
    with _opened(url, namespace=namespace) as registry:
        namespaces = [registry.get_ns(namespace)] if namespace else registry.list_ns()
        root = Tree(f"[bold]{url}[/bold]")
        dump: list[dict[str, object]] = []
        for ns in sorted(namespaces, key=lambda n: n.name):
            ns_node = root.add(_label(ns, owner_key))
            ns_dump = {**_as_dict(ns), "services": []}
            for serv in sorted(registry.list_serv(ns.name), key=lambda s: s.name):
                serv_node = ns_node.add(_label(serv, owner_key))
                endps = sorted(registry.list_endp(ns.name, serv.name), key=lambda e: e.name)
                for endp in endps:
                    serv_node.add(_label(endp, owner_key))
                ns_dump["services"].append(  # type: ignore[attr-defined]
                    {**_as_dict(serv), "endpoints": [_as_dict(e) for e in endps]}
                )
            dump.append(ns_dump)
    if as_json:
        typer.echo(json.dumps(dump, indent=2, sort_keys=True))
        return
    console.print(root)
    if not namespaces:
        console.print("[dim](empty registry)[/dim]")


@app.command("ls")
def list_level(
    url: UrlArg,
    ns_name: Annotated[str | None, typer.Argument(help="list this namespace's services")] = None,
    serv_name: Annotated[str | None, typer.Argument(help="list this service's endpoints")] = None,
    owner_key: OwnerKey = "owner",
    as_json: AsJson = False,
) -> None:
    """List namespaces, or a namespace's services, or a service's endpoints."""
    with _opened(url, ns_name=ns_name, serv_name=serv_name) as registry:
        objs: list[RegistryObject]
        if ns_name is None:
            objs = list(registry.list_ns())
        elif serv_name is None:
            objs = list(registry.list_serv(ns_name))
        else:
            objs = list(registry.list_endp(ns_name, serv_name))
    objs.sort(key=lambda o: o.name)
    if as_json:
        typer.echo(json.dumps([_as_dict(o) for o in objs], indent=2, sort_keys=True))
        return
    table = Table("name", "owner", "address", "metadata")
    for obj in objs:
        where = f"{obj.address}:{obj.port}" if isinstance(obj, Endpoint) else ""
        table.add_row(obj.name, _owner(obj, owner_key), where, _meta(obj, owner_key))
    console.print(table)


@app.command()
def get(
    url: UrlArg,
    ns_name: Annotated[str, typer.Argument(help="namespace")],
    serv_name: Annotated[str | None, typer.Argument(help="service")] = None,
    endp_name: Annotated[str | None, typer.Argument(help="endpoint")] = None,
) -> None:
    """Print one namespace, service or endpoint as JSON (exit 1 if it does not exist)."""
    with _opened(url, ns_name=ns_name, serv_name=serv_name, endp_name=endp_name) as registry:
        obj: RegistryObject
        if serv_name is None:
            obj = registry.get_ns(ns_name)
        elif endp_name is None:
            obj = registry.get_serv(ns_name, serv_name)
        else:
            obj = registry.get_endp(ns_name, serv_name, endp_name)
    typer.echo(json.dumps(_as_dict(obj), indent=2, sort_keys=True))


class Emulator(StrEnum):
    """Emulators this package ships."""

    servicedirectory = "servicedirectory"


@app.command()
def emulate(
    which: Annotated[Emulator, typer.Argument(help="which API to emulate")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 0,
) -> None:
    """Serve a local emulator until interrupted (Ctrl-C)."""
    from servregistry.emulators.servicedirectory import serve

    server, bound = serve(host=host, port=port)
    err_console.print(f"Service Directory emulator listening on {host}:{bound}")
    typer.echo(f"{host}:{bound}")
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=1)


def main() -> None:
    """Entry point of ``python -m servregistry``."""
    app()
