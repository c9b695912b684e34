"""What a user installs: the wheel and sdist (license, dependency range, no stray tests), the
Pulumi SDK range (the floor has every SDK name we use; installing us keeps a newer SDK), and how
scripts/install-pulumi picks the language host (the official one whenever present; ours honours
``virtualenv``). These build real distributions and real virtual environments with pip."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PULUMI_REQUIREMENT = next(
    d for d in PYPROJECT["project"]["dependencies"] if re.match(r"pulumi\b[^_-]", d)
)
FLOOR = re.search(r">=([0-9.]+)", PULUMI_REQUIREMENT).group(1)  # type: ignore[union-attr]
PINNED = re.search(r"^pulumi==([0-9.]+)$", (REPO / "constraints.txt").read_text(), re.M).group(1)  # type: ignore[union-attr]


def run(*args: str | Path, **kwargs: object) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def venv(path: Path) -> Path:
    """A fresh virtual environment; its python."""
    run(sys.executable, "-m", "venv", path)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel and sdist, built as a user's ``python -m build`` builds them."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, REPO)
    return {
        "wheel": next(out.glob("*.whl")),
        "sdist": next(out.glob("*.tar.gz")),
    }


def test_pulumi_is_a_range_and_ci_pins_one_version_inside_it() -> None:
    assert re.fullmatch(r"pulumi>=3\.\d+\.\d+,<4", PULUMI_REQUIREMENT), PULUMI_REQUIREMENT
    floor = tuple(int(p) for p in FLOOR.split("."))
    assert floor <= tuple(int(p) for p in PINNED.split("."))
    bootstrap = (REPO / "scripts" / "bootstrap").read_text()
    assert "-c constraints.txt" in bootstrap
    assert "constraints.txt" in (REPO / "scripts" / "install-pulumi").read_text()


def test_wheel_ships_the_license_and_declares_the_range(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = wheel.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = wheel.read(meta_name).decode()
        license_name = next(n for n in names if n.endswith("/LICENSE"))
        assert "Apache License" in wheel.read(license_name).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert f"Requires-Dist: pulumi<4,>={FLOOR}" in meta
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/"))]


def test_sdist_holds_no_tests_and_builds_the_same_packages(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    assert "LICENSE" in names and "pyproject.toml" in names
    assert not [n for n in names if n.startswith(("tests", "bench/", "examples/", "scripts/"))]
    assert any(n.startswith("provider/servregistry/") for n in names)
    assert any(n.startswith("sdk/pulumi_servregistry/") for n in names)


def sdk_uses() -> tuple[list[str], list[tuple[str, int, list[str]]]]:
    """What our packages take from the pulumi SDK: every name (``from pulumi.x import Y`` as
    ``pulumi.x:Y``; attribute chains on the ``pulumi`` module as ``pulumi:a.b``), and every call
    of an imported name with its number of positional arguments and its keywords (so that a
    signature the floor lacks, e.g. ``ReadResult(id, outs, inputs)``, is caught too)."""
    names: set[str] = set()
    calls: set[tuple[str, int, tuple[str, ...]]] = set()
    for path in [*REPO.glob("provider/servregistry/**/*.py"), *REPO.glob("sdk/**/*.py")]:
        tree = ast.parse(path.read_text())
        imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pulumi":
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module}:{alias.name}"
            elif isinstance(node, ast.Attribute):
                chain: list[str] = []
                inner: ast.expr = node
                while isinstance(inner, ast.Attribute):
                    chain.insert(0, inner.attr)
                    inner = inner.value
                if isinstance(inner, ast.Name) and inner.id == "pulumi":
                    names.add(f"pulumi:{'.'.join(chain)}")
        names.update(imported.values())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in imported
                and not any(isinstance(a, ast.Starred) for a in node.args)
                and all(k.arg for k in node.keywords)
            ):
                keywords = tuple(sorted(str(k.arg) for k in node.keywords))
                calls.add((imported[node.func.id], len(node.args), keywords))
    return sorted(names), [(s, n, list(k)) for s, n, k in sorted(calls)]


CHECK_NAMES = textwrap.dedent(
    """
    import importlib, inspect, json, sys
    import pulumi, pulumi.dynamic, pulumi.runtime

    def resolve(spec):
        module, _, attrs = spec.partition(":")
        obj = importlib.import_module(module)
        for attr in attrs.split("."):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                obj = importlib.import_module(obj.__name__ + "." + attr)
        return obj

    names, calls = json.loads(sys.argv[1])
    missing = []
    for spec in names:
        try:
            resolve(spec)
        except Exception as exc:
            missing.append(f"{spec} ({type(exc).__name__}: {exc})")
    for spec, nargs, keywords in calls:
        try:
            inspect.signature(resolve(spec)).bind(*[None] * nargs, **dict.fromkeys(keywords))
        except Exception as exc:
            missing.append(f"{spec} called with {nargs} arguments and {keywords}: {exc}")
    print(json.dumps({"missing": missing}))
    """
)


@pytest.fixture(scope="module")
def floor_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = venv(tmp_path_factory.mktemp("floor") / "venv")
    run(python, "-m", "pip", "install", "-q", f"pulumi=={FLOOR}")
    return python


def test_the_sdk_names_we_use_exist_on_the_floor(floor_python: Path) -> None:
    names, calls = sdk_uses()
    assert "pulumi.output:Unknown" in names and "pulumi.dynamic:ConfigureRequest" in names
    assert ("pulumi.dynamic:ReadResult", 3, []) in calls
    result = json.loads(run(floor_python, "-c", CHECK_NAMES, json.dumps([names, calls])).strip())
    assert result["missing"] == [], f"pulumi {FLOOR} lacks: {result['missing']}"


def test_installing_the_wheel_keeps_a_newer_pulumi(dists: dict[str, Path], tmp_path: Path) -> None:
    python = venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "-q", "--upgrade", "pulumi")  # the newest available
    version = run(python, "-c", "from importlib.metadata import version; print(version('pulumi'))")
    assert tuple(int(p) for p in version.strip().split(".")) > tuple(
        int(p) for p in FLOOR.split(".")
    )
    run(python, "-m", "pip", "install", "-q", dists["wheel"])
    after = run(python, "-c", "from importlib.metadata import version; print(version('pulumi'))")
    assert after.strip() == version.strip()
    # and the SDK names we use exist on that newest SDK too
    result = json.loads(run(python, "-c", CHECK_NAMES, json.dumps(sdk_uses())).strip())
    assert result["missing"] == [], f"pulumi {version.strip()} lacks: {result['missing']}"
    run(python, "-c", "import pulumi_servregistry, servregistry.cli")


# -- scripts/install-pulumi: which language host ------------------------------------------------

MARKER = "Pulumi's Python language host for this repo"


def install_pulumi(path: str, bin_dir: Path) -> str:
    env = {**os.environ, "PATH": path, "SERVREGISTRY_PULUMI_BIN": str(bin_dir)}
    return run("bash", REPO / "scripts" / "install-pulumi", env=env).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real CLI as scripts/install-pulumi provides it (our fallback host beside it)."""
    bin_dir = tmp_path_factory.mktemp("pulumi-bin")
    out = install_pulumi(os.environ["PATH"], bin_dir)
    assert out == str(bin_dir)
    return bin_dir / "pulumi"


def stand_in_host(folder: Path) -> Path:
    """An executable named like the official host (the official binary cannot be built here:
    its Go module is not served); install-pulumi must choose it over ours."""
    folder.mkdir(parents=True, exist_ok=True)
    host = folder / "pulumi-language-python"
    host.write_text("#!/bin/sh\nexit 0\n")
    host.chmod(0o755)
    return host


def test_without_an_official_host_ours_is_the_fallback(built_cli: Path) -> None:
    shim = built_cli.parent / "pulumi-language-python"
    assert MARKER in shim.read_text()
    assert (
        "PULUMI_RUNTIME_VIRTUALENV"
        in (built_cli.parent / "pulumi-resource-pulumi-python").read_text()
    )


def test_an_official_install_on_path_is_used_as_it_is(built_cli: Path, tmp_path: Path) -> None:
    official = tmp_path / "official"
    stand_in_host(official)
    os.link(built_cli, official / "pulumi")
    bin_dir = tmp_path / "ours"
    out = install_pulumi(f"{official}:{os.environ['PATH']}", bin_dir)
    assert out == str(official)
    assert not bin_dir.exists()  # nothing of ours is written, nothing shadows it


def test_an_official_host_on_path_is_not_shadowed(built_cli: Path, tmp_path: Path) -> None:
    host = stand_in_host(tmp_path / "host")
    bin_dir = tmp_path / "ours"
    out = install_pulumi(f"{built_cli.parent}:{host.parent}:{os.environ['PATH']}", bin_dir)
    assert out == str(bin_dir)
    assert (bin_dir / "pulumi").exists()
    assert not (bin_dir / "pulumi-language-python").exists()


# -- our language host: Pulumi.yaml's virtualenv ------------------------------------------------

PROGRAM = textwrap.dedent(
    """
    import sys

    import pulumi

    import venv_only  # importable only inside the project's virtualenv
    import pulumi_servregistry as sr

    sr.RegistryNamespace("ns", name="venv-check")
    pulumi.export("prefix", sys.prefix)
    pulumi.export("marker", venv_only.MARKER)
    """
)


@pytest.fixture
def project(tmp_path: Path, built_cli: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "__main__.py").write_text(PROGRAM)
    env = {
        **os.environ,
        "PATH": f"{built_cli.parent}:{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "venv",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "NO_COLOR": "1",
    }
    (tmp_path / "state").mkdir()
    yield root, env


def make_venv(path: Path) -> None:
    """A virtualenv with its own module ``venv_only``, seeing this repo's packages through a
    ``.pth`` (as ``pip install -r requirements.txt`` would install them)."""
    python = venv(path)
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    repo_site = run(
        REPO / ".venv" / "bin" / "python",
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ).strip()
    (site / "repo_venv.pth").write_text(f"{repo_site}\n{REPO / 'provider'}\n{REPO / 'sdk'}\n")
    (site / "venv_only.py").write_text(f"MARKER = {str(path)!r}\n")


@pytest.mark.e2e
def test_the_program_runs_in_the_virtualenv_pulumi_yaml_names(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = project
    make_venv(root / "venv")
    (root / "Pulumi.yaml").write_text(
        "name: venv-check\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n"
    )
    run("pulumi", "stack", "init", "dev", "--non-interactive", cwd=root, env=env)
    url = f"sqlite://{tmp_path / 'registry.db'}"
    run("pulumi", "config", "set", "servregistry:registry", url, cwd=root, env=env)
    run("pulumi", "up", "--yes", "--non-interactive", cwd=root, env=env)
    outputs = json.loads(run("pulumi", "stack", "output", "--json", cwd=root, env=env))
    assert outputs["prefix"] == str(root / "venv")
    assert outputs["marker"] == str(root / "venv")
    run("pulumi", "destroy", "--yes", "--non-interactive", cwd=root, env=env)


@pytest.mark.e2e
def test_a_missing_virtualenv_is_an_error_naming_it(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    (root / "Pulumi.yaml").write_text(
        "name: venv-check\nruntime:\n  name: python\n  options:\n    virtualenv: nosuch\n"
    )
    run("pulumi", "stack", "init", "dev", "--non-interactive", cwd=root, env=env)
    done = subprocess.run(
        ["pulumi", "up", "--yes", "--non-interactive"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert str(root / "nosuch") in done.stdout + done.stderr


def language_host() -> object:
    """tools/pulumi_language_python.py as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pulumi_language_python", REPO / "tools" / "pulumi_language_python.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_picks_the_python_as_the_runtime_options_say(tmp_path: Path) -> None:
    host: Any = language_host()
    root = tmp_path / "proj"
    program = root / "src"
    program.mkdir(parents=True)
    # no options: the interpreter named by PULUMI_PYTHON_CMD (else the host's own)
    python, env = host.program_python({}, root, program)
    assert python == (os.environ.get("PULUMI_PYTHON_CMD") or sys.executable)
    assert "VIRTUAL_ENV" not in env or env["VIRTUAL_ENV"] == os.environ.get("VIRTUAL_ENV")
    # virtualenv, relative to the project root: its python, its bin first on PATH
    venv(root / "venv")
    python, env = host.program_python({"virtualenv": "venv"}, root, program)
    assert python == str(root / "venv" / "bin" / "python")
    assert env["VIRTUAL_ENV"] == str(root / "venv")
    assert env["PATH"].split(os.pathsep)[0] == str(root / "venv" / "bin")
    # uv without a virtualenv option: .venv beside the nearest uv.lock
    (root / "uv.lock").write_text("")
    with pytest.raises(host.ToolchainError, match=r"proj/\.venv \(uv\) does not exist.*uv sync"):
        host.program_python({}, root, program)
    with pytest.raises(host.ToolchainError, match="toolchain is 'conda'; known: pip, uv, poetry"):
        host.program_python({"toolchain": "conda"}, root, program)
    (root / "venv-empty").mkdir()
    with pytest.raises(host.ToolchainError, match="is not a virtual environment"):
        host.program_python({"toolchain": "pip", "virtualenv": "venv-empty"}, root, program)
