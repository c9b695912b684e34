"""What a user sees from the real Pulumi CLI when something is in the way: a registry error is
one message naming the registry, the object and the fix (no traceback of our code), what we
leave alone is a Pulumi warning attached to its resource, and ``preview`` finds a name someone
else holds, and an unreachable registry, before ``up`` does."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from servregistry import Endpoint, Namespace, open_registry
from servregistry.registry import ServiceRegistry
from tests.e2e.pulumi_cli import Project

FOREIGN = {"owner": "someone-else"}
SPEC: dict[str, Any] = {
    "namespace": "shop",
    "service": "web",
    "endpoints": [{"name": "web-a", "address": "10.0.0.1", "port": 80}],
}


def output(done: Any) -> str:
    return f"{done.stdout}\n{done.stderr}"


def no_frames(text: str) -> None:
    """No traceback, and no frame of our code, reaches the user."""
    assert "Traceback" not in text, text
    assert not re.search(r'File ".*servregistry/', text), text


def diagnostics(text: str) -> dict[str, list[str]]:
    """The CLI's Diagnostics section: resource name → its warnings (counted by the engine as
    warnings: plain stderr text would be listed as ``info``, not ``warning``)."""
    found: dict[str, list[str]] = {}
    section = text.split("\nDiagnostics:\n", 1)[1] if "\nDiagnostics:\n" in text else ""
    current = ""
    for line in section.splitlines():
        if not line.startswith(" ") and line.strip():
            break  # the next section (Outputs, Resources)
        head = re.fullmatch(r"  \S+ \((\S+)\):", line)
        if head:
            current = head.group(1)
        elif line.strip().startswith("warning: "):
            found.setdefault(current, []).append(line.strip().removeprefix("warning: "))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_registry_warns_in_preview_and_fails_up_in_one_line(
    tmp_path: Path, pulumi_bin: str
) -> None:
    port = free_port()
    project = Project(tmp_path, pulumi_bin)
    project.configure(f"etcd://127.0.0.1:{port}/e2e", SPEC)

    preview = project.run("preview")
    text = output(preview)
    assert preview.returncode == 0, text
    warnings = diagnostics(text)
    assert set(warnings) == {"ns", "svc", "eps"}, text
    assert all(
        f"127.0.0.1:{port}" in w[0] and "servregistry:registry" in w[0] for w in warnings.values()
    )
    no_frames(text)

    up = project.run("up", "--yes", "--skip-preview", check=False)
    text = output(up)
    assert up.returncode != 0, text
    assert "cannot reach etcd" in text and f"127.0.0.1:{port}" in text, text
    assert "servregistry:registry" in text, text
    no_frames(text)


def test_foreign_names_fail_preview_without_writing(
    tmp_path: Path, pulumi_bin: str, sqlite_registry_url: str
) -> None:
    registry = open_registry(sqlite_registry_url)
    registry.create_ns(Namespace("shop", FOREIGN))
    project = Project(tmp_path, pulumi_bin)
    project.configure(sqlite_registry_url, SPEC)

    preview = project.run("preview", check=False)
    text = output(preview)
    assert preview.returncode != 0, text
    assert "namespace 'shop' already exists" in text and "not ours" in text, text
    no_frames(text)
    assert registry.list_ns() == [Namespace("shop", FOREIGN)]
    assert registry.list_serv("shop") == []
    registry.close()


def deployed_beside_foreign(
    tmp_path: Path, pulumi_bin: str, url: str, foreign: str
) -> tuple[Project, ServiceRegistry]:
    """SPEC deployed with ``up``, then someone else's endpoint ``foreign`` added to shop/web."""
    project = Project(tmp_path, pulumi_bin)
    project.configure(url, SPEC)
    project.up()
    registry = open_registry(url)
    registry.create_endp(Endpoint(foreign, "shop", "web", "10.9.9.9", 81, FOREIGN))
    return project, registry


def test_foreign_endpoint_name_fails_preview(
    tmp_path: Path, pulumi_bin: str, etcd_registry_url: str
) -> None:
    project, registry = deployed_beside_foreign(tmp_path, pulumi_bin, etcd_registry_url, "web-b")
    project.configure(
        etcd_registry_url,
        {
            **SPEC,
            "endpoints": [*SPEC["endpoints"], {"name": "web-b", "address": "10.0.0.2", "port": 80}],
        },
    )

    preview = project.run("preview", check=False)
    text = output(preview)
    assert preview.returncode != 0, text
    assert "endpoint shop/web/web-b already exists" in text and "not ours" in text, text
    no_frames(text)
    assert registry.get_endp("shop", "web", "web-b").address == "10.9.9.9"
    registry.close()


def test_what_is_left_alone_is_a_warning_on_its_resource(
    tmp_path: Path, pulumi_bin: str, etcd_registry_url: str
) -> None:
    project, registry = deployed_beside_foreign(tmp_path, pulumi_bin, etcd_registry_url, "other")

    # a foreign endpoint in our service: left alone, one warning under the endpoint set
    project.configure(etcd_registry_url, {**SPEC, "endpoints": []})
    text = project.up()
    warnings = diagnostics(text)
    assert list(warnings) == ["eps"] and len(warnings["eps"]) == 1, text
    assert "not ours and were left alone: other" in warnings["eps"][0], text
    no_frames(text)

    # the service and namespace are kept because of it: a warning each, attached to each
    text = project.destroy()
    warnings = diagnostics(text)
    assert sorted(warnings) == ["ns", "svc"], text
    assert "service shop/web was not deleted" in warnings["svc"][0], text
    assert "namespace shop was not deleted" in warnings["ns"][0], text
    no_frames(text)
    assert [e.name for e in registry.list_endp("shop", "web")] == ["other"]
    assert registry.get_serv("shop", "web").name == "web"
    assert registry.get_ns("shop").name == "shop"
    registry.close()
