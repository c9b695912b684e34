"""The ``servregistry`` command: look at what a registry holds, hand objects over to a Pulumi
stack, and run local stand-ins for registry servers.

    servregistry tree sqlite:///$PWD/.demo/registry.db
    servregistry ls etcd://127.0.0.1:2379/service-registry/ prod
    servregistry get etcd://127.0.0.1:2379/ prod web --json
    servregistry adopt etcd://127.0.0.1:2379/ prod/web --from owner=cnwan-operator --stack proj_dev
    servregistry emulate servicedirectory --port 9090

Every command that reads a registry takes its URL (the forms ``open_registry`` accepts) as the
first argument, or from ``$SERVREGISTRY_URL`` when no argument is a URL. Each object is shown
with its owner (the value of ``--owner-key``, ``owner`` by default) and the Pulumi stack that
created it, so that a person can check what a Pulumi run wrote and what it left alone. Values
are printed as they are stored (no markup is interpreted). Exit status 1 on a registry error,
on an object that does not exist, or on a refused hand-over, with the reason on stderr.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from importlib import metadata
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from servregistry import errors
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.model import Endpoint, MetadataPair, RegistryObject, require_name
from servregistry.registry import ServiceRegistry, open_registry
from servregistry.stack_config import STACK_METADATA_KEY

#: the environment variable that gives the registry URL when no argument does
URL_ENV = "SERVREGISTRY_URL"
#: what a stack pair's value may hold (the label-safe form every backend stores)
_STACK_VALUE = re.compile(r"[a-z0-9_-]{1,63}")


class _UrlFromEnv(typer.core.TyperCommand):
    """A command whose first argument, the registry URL, may come from ``$SERVREGISTRY_URL``:
    when no argument looks like a URL (``scheme://``), the variable's value goes first."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not any(a in ("-h", "--help") or "://" in a for a in args):
            default = os.environ.get(URL_ENV)
            if not default:
                raise _fail(
                    "no registry URL: give one first (e.g. sqlite:///abs/path/registry.db, "
                    f"etcd://127.0.0.1:2379/) or set ${URL_ENV}"
                )
            args = [default, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    help="Inspect a service registry (etcd, Cloud Map, Service Directory, SQLite), hand objects "
    "over to a Pulumi stack, run local registry servers. The registry URL may come from "
    f"${URL_ENV}.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err_console = Console(stderr=True)

UrlArg = Annotated[
    str,
    typer.Argument(
        help=f"registry URL, e.g. sqlite:///abs/path.db (default: ${URL_ENV})",
        show_default=False,
    ),
]
OwnerKey = Annotated[str, typer.Option("--owner-key", help="metadata key that names the owner")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _open_for_reading(url: str) -> ServiceRegistry:
    """``open_registry``, except that a SQLite file is opened read-only: looking at a registry
    never creates, upgrades or writes the file."""
    if url.partition("://")[0].lower() == "sqlite":
        return SqliteRegistry.from_url(url, read_only=True)
    return open_registry(url)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"servregistry {metadata.version('pulumi-servregistry')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Inspect a service registry, hand objects over to a Pulumi stack, run local servers."""


def _fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned Exit (status 1)."""
    err_console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


@contextmanager
def _opened(url: str, write: bool = False, **names: str | None) -> Iterator[ServiceRegistry]:
    """The registry ``url`` names, once the name arguments are checked; a refusal is printed
    and exits 1. Unless ``write``, a SQLite file is opened read-only."""
    try:
        for field, name in names.items():
            if name is not None:
                require_name(name, field)
        registry = open_registry(url) if write else _open_for_reading(url)
    except (errors.ServiceRegistryError, ImportError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    try:
        yield registry
    except errors.ServiceRegistryError as exc:
        raise _fail(str(exc)) from exc
    finally:
        registry.close()


def _where(endp: Endpoint) -> str:
    """``address:port``, with an IPv6 address in brackets (``[2001:db8::5]:8443``)."""
    host = f"[{endp.address}]" if ":" in endp.address else endp.address
    return f"{host}:{endp.port}"


def _owner(obj: RegistryObject, owner_key: str) -> str:
    """The owner (and the stack that created the object), as markup with escaped values."""
    owner = obj.metadata.get(owner_key)
    stack = obj.metadata.get(STACK_METADATA_KEY)
    text = f"[green]{escape(owner)}[/green]" if owner else "[yellow]no owner[/yellow]"
    return f"{text}, stack [cyan]{escape(stack)}[/cyan]" if stack else text


def _meta(obj: RegistryObject, owner_key: str) -> str:
    """The other metadata as ``k=v, ...``, escaped."""
    shown = (owner_key, STACK_METADATA_KEY)
    return escape(", ".join(f"{k}={v}" for k, v in sorted(obj.metadata.items()) if k not in shown))


def _label(obj: RegistryObject, owner_key: str) -> str:
    where = f" {escape(_where(obj))}" if isinstance(obj, Endpoint) else ""
    meta = _meta(obj, owner_key)
    meta = f" [dim]{{{meta}}}[/dim]" if meta else ""
    return f"[bold]{escape(obj.name)}[/bold]{where} ({_owner(obj, owner_key)}){meta}"


def _as_dict(obj: RegistryObject) -> dict[str, object]:
    return obj.model_dump()


@app.command(cls=_UrlFromEnv)
def tree(
    url: UrlArg,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="show only this namespace")
    ] = None,
    owner_key: OwnerKey = "owner",
    as_json: AsJson = False,
) -> None:
    """Print namespaces, their services and the services' endpoints, with owners and stacks."""
    with _opened(url, namespace=namespace) as registry:
        namespaces = [registry.get_ns(namespace)] if namespace else registry.list_ns()
        root = Tree(f"[bold]{escape(url)}[/bold]")
        dump: list[dict[str, object]] = []
        for ns in sorted(namespaces, key=lambda n: n.name):
            ns_node = root.add(_label(ns, owner_key))
            services: list[dict[str, object]] = []
            for serv in sorted(registry.list_serv(ns.name), key=lambda s: s.name):
                serv_node = ns_node.add(_label(serv, owner_key))
                endps = sorted(registry.list_endp(ns.name, serv.name), key=lambda e: e.name)
                for endp in endps:
                    serv_node.add(_label(endp, owner_key))
                services.append({**_as_dict(serv), "endpoints": [_as_dict(e) for e in endps]})
            dump.append({**_as_dict(ns), "services": services})
    if as_json:
        typer.echo(json.dumps(dump, indent=2, sort_keys=True))
        return
    console.print(root)
    if not namespaces:
        console.print("[dim](empty registry)[/dim]")


@app.command("ls", cls=_UrlFromEnv)
def list_level(
    url: UrlArg,
    ns_name: Annotated[str | None, typer.Argument(help="list this namespace's services")] = None,
    serv_name: Annotated[str | None, typer.Argument(help="list this service's endpoints")] = None,
    owner_key: OwnerKey = "owner",
    as_json: AsJson = False,
) -> None:
    """List namespaces, or a namespace's services, or a service's endpoints (exit 1 if the
    namespace or service does not exist)."""
    with _opened(url, ns_name=ns_name, serv_name=serv_name) as registry:
        objs: list[RegistryObject]
        if ns_name is None:
            objs = list(registry.list_ns())
        elif serv_name is None:
            registry.get_ns(ns_name)  # a missing namespace is an error, not an empty list
            objs = list(registry.list_serv(ns_name))
        else:
            registry.get_serv(ns_name, serv_name)
            objs = list(registry.list_endp(ns_name, serv_name))
    objs.sort(key=lambda o: o.name)
    if as_json:
        typer.echo(json.dumps([_as_dict(o) for o in objs], indent=2, sort_keys=True))
        return
    table = Table("name", "owner", "address", "metadata")
    for obj in objs:
        where = escape(_where(obj)) if isinstance(obj, Endpoint) else ""
        table.add_row(escape(obj.name), _owner(obj, owner_key), where, _meta(obj, owner_key))
    console.print(table)


@app.command(cls=_UrlFromEnv)
def get(
    url: UrlArg,
    ns_name: Annotated[str, typer.Argument(help="namespace")],
    serv_name: Annotated[str | None, typer.Argument(help="service")] = None,
    endp_name: Annotated[str | None, typer.Argument(help="endpoint")] = None,
) -> None:
    """Print one namespace, service or endpoint as JSON (exit 1 if it does not exist)."""
    with _opened(url, ns_name=ns_name, serv_name=serv_name, endp_name=endp_name) as registry:
        obj = _read(registry, [ns_name, *(n for n in (serv_name, endp_name) if n is not None)])
    typer.echo(json.dumps(_as_dict(obj), indent=2, sort_keys=True))


def _read(registry: ServiceRegistry, path: list[str]) -> RegistryObject:
    """The namespace, service or endpoint that ``path`` (1 to 3 names) names."""
    getters: list[Callable[..., RegistryObject]] = [
        registry.get_ns,
        registry.get_serv,
        registry.get_endp,
    ]
    return getters[len(path) - 1](*path)


def _pair(text: str, option: str) -> MetadataPair:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise _fail(f"{option}: {text!r} is not KEY=VALUE (e.g. owner=cnwan-operator)")
    return MetadataPair(key, value)


def _update(registry: ServiceRegistry, obj: RegistryObject) -> RegistryObject:
    updates: dict[str, Callable[[Any], RegistryObject]] = {
        "Namespace": registry.update_ns,
        "Service": registry.update_serv,
        "Endpoint": registry.update_endp,
    }
    return updates[type(obj).__name__](obj)


@app.command(cls=_UrlFromEnv)
def adopt(
    url: UrlArg,
    path: Annotated[str, typer.Argument(help="the object: NS, NS/SERVICE or NS/SERVICE/ENDPOINT")],
    from_pair: Annotated[
        str,
        typer.Option(
            "--from", help="the owner pair the object must carry now, KEY=VALUE", show_default=False
        ),
    ],
    stack: Annotated[
        str,
        typer.Option(
            "--stack",
            help=f"the stack that takes it over: {STACK_METADATA_KEY} value, <project>_<stack>",
            show_default=False,
        ),
    ],
) -> None:
    """Hand one existing object over to a Pulumi stack: stamp it with the stack's pair
    (``pulumi-stack: <project>_<stack>``) so that the stack's next ``pulumi up`` adopts it.

    Checked first, nothing written otherwise: the object exists, carries exactly the owner pair
    given with ``--from``, and carries no other stack's pair. Only that object is written (its
    children are not), its metadata otherwise unchanged; the write is guarded as the backend
    guards every update (etcd: on the revision read). Running it again is a no-op.
    """
    owner = _pair(from_pair, "--from")
    if not _STACK_VALUE.fullmatch(stack):
        raise _fail(
            f"--stack: {stack!r} must be 1-63 lowercase letters, digits, '_' or '-' "
            "(the <project>_<stack> label a stack writes, e.g. proj_dev)"
        )
    names = path.strip("/").split("/")
    if not 1 <= len(names) <= 3 or not all(names):
        raise _fail(f"path: {path!r} is not NS, NS/SERVICE or NS/SERVICE/ENDPOINT")
    with _opened(url, write=True) as registry:
        current = _read(registry, names)
        if current.unreadable:
            raise _fail(f"{path} is not handed over: it cannot be read ({current.unreadable})")
        held = current.metadata.get(owner.key)
        if held != owner.value:
            now = f"{owner.key}={held}" if held is not None else f"no {owner.key!r} key"
            raise _fail(f"{path} is not handed over: it has {now}, not {owner.key}={owner.value}")
        other = current.metadata.get(STACK_METADATA_KEY)
        if other == stack:
            typer.echo(f"{path} already belongs to stack {stack}; nothing written")
            return
        if other is not None:
            raise _fail(
                f"{path} is not handed over: another stack holds it ({STACK_METADATA_KEY}={other})"
            )
        metadata = {**current.metadata, STACK_METADATA_KEY: stack}
        _update(registry, current.model_copy(update={"metadata": metadata}))
    typer.echo(f"{path}: stamped {STACK_METADATA_KEY}={stack} (owner {owner.key}={owner.value})")


class Emulator(StrEnum):
    """Local stand-ins this package starts."""

    etcd = "etcd"
    cloudmap = "cloudmap"
    servicedirectory = "servicedirectory"


@app.command()
def emulate(
    which: Annotated[Emulator, typer.Argument(help="which registry to serve")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 0,
) -> None:
    """Serve a throwaway local registry until interrupted (Ctrl-C); print its registry URL.

    etcd: a private etcd (the ``etcd`` binary) with its data in a temporary directory;
    cloudmap: moto's server made AWS-faithful (clients need any AWS keys, e.g. testing/testing);
    servicedirectory: our Service Directory emulator, project ``example-project``.
    The first line on stdout is the URL to give ``pulumi config set servregistry:registry``.
    """
    from servregistry.emulators import EmulatorError
    from servregistry.emulators.runner import run_emulator

    try:
        run_emulator(which.value, host, port, ready=typer.echo, note=err_console.print)
    except EmulatorError as exc:
        raise _fail(str(exc)) from exc


def main() -> None:
    """Entry point of ``python -m servregistry``."""
    app()
