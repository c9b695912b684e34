"""A minimal Pulumi language host for Python programs (``pulumi-language-python``), the fallback
``scripts/install-pulumi`` uses only when no official host is installed.

Why it exists: the Go module of the upstream host
(``github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3``) is not served by the Go
module proxy this project's machines reach, so ``scripts/install-pulumi`` cannot build it. The
engine talks to a language host over the ``pulumirpc.LanguageRuntime`` gRPC service, whose
Python stubs ship in the ``pulumi`` wheel; this host implements the calls a ``preview``, ``up``,
``refresh`` or ``destroy`` of a Python program makes, and runs the program the same way the
upstream host does: ``python -u pulumi-language-python-exec --monitor ... PROGRAM`` (the exec
script comes from the ``github.com/pulumi/pulumi/sdk/v3`` module, which the proxy does serve).

Which Python runs the program follows the ``runtime.options`` of ``Pulumi.yaml`` as the
upstream host does: ``toolchain`` (``pip``, ``uv``, ``poetry``; unset: ``uv`` when a ``uv.lock``
is found from the program directory up, ``poetry`` for a ``poetry.lock``, else ``pip``) and
``virtualenv`` (a directory, relative to the project root). With a virtualenv, the program runs
with its ``bin/python``, its ``bin`` first on ``PATH`` and ``VIRTUAL_ENV`` set; a virtualenv that
does not exist is an error naming it and the commands that create it. Without one (``pip``),
the program runs with ``$PULUMI_PYTHON_CMD``, else the interpreter running this host.

Limits, on purpose: no dependency installation (``pulumi install``; ``uv``/``poetry`` are not
run to create or sync an environment), no code generation, no policy packs. Started by the
engine as ``pulumi-language-python ENGINE_ADDRESS``; prints its port on stdout, as every plugin
does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import language_pb2 as pb
from pulumi.runtime.proto import language_pb2_grpc, plugin_pb2

VERSION = os.environ.get("SERVREGISTRY_PULUMI_VERSION", "3.260.0")
#: the exit code with which the exec script says "the error was already shown to the user"
BAIL_CODE = 32


def _python() -> str:
    return os.environ.get("PULUMI_PYTHON_CMD") or sys.executable


class ToolchainError(Exception):
    """The program's Python cannot be found as ``Pulumi.yaml`` asks; the message says why."""


def _search_up(start: Path, name: str) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / name).exists():
            return folder
    return None


def program_python(
    options: dict[str, Any], root: Path, program_dir: Path
) -> tuple[str, dict[str, str]]:
    """The Python that runs the program and the environment to run it in, from the
    ``runtime.options`` of ``Pulumi.yaml`` (see the module docstring)."""
    toolchain = str(options.get("toolchain") or "").lower()
    virtualenv = str(options.get("virtualenv") or "")
    if toolchain not in ("", "pip", "uv", "poetry"):
        raise ToolchainError(
            f"Pulumi.yaml: runtime option toolchain is {toolchain!r}; known: pip, uv, poetry"
        )
    if not toolchain:
        toolchain = (
            "uv"
            if _search_up(program_dir, "uv.lock")
            else "poetry"
            if _search_up(program_dir, "poetry.lock")
            else "pip"
        )
    env = dict(os.environ)
    if toolchain == "poetry":
        done = subprocess.run(
            ["poetry", "env", "info", "--path"],
            cwd=program_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise ToolchainError(
                "Pulumi.yaml: toolchain poetry, but `poetry env info --path` found no "
                f"environment in {program_dir}: run `poetry install` there ({done.stderr.strip()})"
            )
        venv = Path(done.stdout.strip())
    elif toolchain == "uv" and not virtualenv:
        venv = (_search_up(root, "uv.lock") or _search_up(root, "pyproject.toml") or root) / ".venv"
    elif virtualenv:
        venv = Path(virtualenv) if os.path.isabs(virtualenv) else root / virtualenv
    else:
        return _python(), env
    python = venv / "bin" / "python"
    if not python.exists():
        state = "is not a virtual environment" if venv.is_dir() else "does not exist"
        make = (
            "uv sync"
            if toolchain == "uv"
            else "poetry install"
            if toolchain == "poetry"
            else f"python3 -m venv {venv} && {venv}/bin/pip install -r requirements.txt"
        )
        raise ToolchainError(
            f"Pulumi.yaml: the virtualenv {venv} ({toolchain}) {state}; create it with: {make}"
        )
    env.pop("PYTHONHOME", None)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    return str(python), env


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str) -> None:
        self.engine = engine
        exec_script = os.environ.get("PULUMI_LANGUAGE_PYTHON_EXEC")
        self.executor = Path(exec_script or Path(__file__).with_name("pulumi-language-python-exec"))

    def Handshake(self, request: Any, context: Any) -> Any:
        if request.engine_address:
            self.engine = request.engine_address
        return pb.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        return pb.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return pb.GetRequiredPackagesResponse()

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        return pb.GetProgramDependenciesResponse()

    def About(self, request: Any, context: Any) -> Any:
        version = subprocess.run(
            [_python(), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return pb.AboutResponse(executable=_python(), version=version.removeprefix("Python "))

    def RuntimeOptionsPrompts(self, request: Any, context: Any) -> Any:
        return pb.RuntimeOptionsResponse()

    def InstallDependencies(self, request: Any, context: Any) -> Any:
        message = b"servregistry language host: dependencies are installed by make bootstrap\n"
        yield pb.InstallDependenciesResponse(stdout=message)

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def Run(self, request: Any, context: Any) -> Any:
        info = request.info
        program_dir = info.program_directory or request.pwd or os.getcwd()
        entry = info.entry_point or request.program or "."
        options = json_format.MessageToDict(info.options) if info.HasField("options") else {}
        try:
            python, env = program_python(
                options, Path(info.root_directory or program_dir), Path(program_dir)
            )
        except ToolchainError as exc:
            return pb.RunResponse(error=str(exc))
        args = [
            python,
            "-u",
            str(self.executor),
            "--monitor",
            request.monitor_address,
            "--engine",
            self.engine,
            "--project",
            request.project,
            "--stack",
            request.stack,
            "--pwd",
            program_dir,
            "--dry_run",
            "true" if request.dryRun else "false",
            "--parallel",
            str(request.parallel),
            "--organization",
            request.organization,
            "--root_directory",
            info.root_directory or program_dir,
            entry,
            *request.args,
        ]
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        done = subprocess.run(args, cwd=program_dir, env=env, check=False)
        if done.returncode == 0:
            return pb.RunResponse()
        if done.returncode == BAIL_CODE:
            return pb.RunResponse(bail=True)
        return pb.RunResponse(error=f"Program exited with non-zero exit code: {done.returncode}")


def main() -> None:
    engine = sys.argv[-1] if len(sys.argv) > 1 else ""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # the engine interrupts (or terminates) its plugins when it is done: stop serving then,
    # rather than let an interrupt land inside the wait (which printed a traceback now and then)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
