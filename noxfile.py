"""Nox sessions for the ACBO monorepo.

Sessions:
  train       the main job (the acbo-train CLI on the embedded default configuration)
  test        install every package present from this checkout, run all unit and integration tests
  lint        ruff over the whole tree
  typecheck   mypy over the packages
  bench       run every tools/bench_*.py (pass --quick through: `nox -s bench -- --quick`)
  build_cuda  compile the CUDA part of the kernel with the installed nvcc (no GPU needed)

Each local package is installed through its own pyproject.toml, so a dependency missing from a
package's list fails the tests instead of being masked by the developer's environment.
"""

from __future__ import annotations

import pathlib
import sys

import nox

ROOT = pathlib.Path(__file__).parent
nox.options.sessions = ["test"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

# Dependency order (lower layers first). A package is used only if its directory exists, so the
# sessions keep working while layers are being added.
PACKAGE_DIRS = (
    "kernels",
    "packages/core",
    "packages/expert",
    "packages/surrogate",
    "packages/acquisition",
    "packages/training",
    "packages/integration",
)
# Extras installed by the test session (the Ray executor is tested on a local 2-worker cluster).
TEST_EXTRAS = {"packages/training": "[ray]", "packages/integration": "[benchmarks]"}
TEST_TOOLS = ("pytest>=8", "hypothesis>=6.100", "pytest-xdist>=3.5")


def present_packages() -> list[str]:
    return [p for p in PACKAGE_DIRS if (ROOT / p / "pyproject.toml").exists()]


def test_dirs() -> list[str]:
    dirs = [f"{p}/tests" for p in present_packages() if (ROOT / p / "tests").is_dir()]
    if any((ROOT / "integration_tests").glob("test_*.py")):
        dirs.append("integration_tests")
    return dirs


def install_packages(session: nox.Session, *extra: str, extras: dict[str, str] | None = None
                     ) -> None:
    # One pip call so local packages resolve against each other rather than against PyPI.
    extras = extras or {}
    session.install(*(f"./{p}{extras.get(p, '')}" for p in present_packages()), *extra)


@nox.session
def test(session: nox.Session) -> None:
    """Install every package from the checkout, then run all tests (`-- ARGS` go to pytest)."""
    install_packages(session, *TEST_TOOLS, extras=TEST_EXTRAS)
    args = session.posargs or ["-n", "2", "--dist", "loadfile"]
    session.run("python", "-m", "pytest", "--import-mode=importlib", *args, *test_dirs())


@nox.session
def train(session: nox.Session) -> None:
    """The main job: `acbo-train run` on the embedded default configuration.

    Leaves runs/quickstart/ (demonstrations, checkpoints, the trained system, report/). The
    same command resumes an interrupted run. `-- ARGS` go to acbo-train run, e.g.
    `nox -s train -- --output runs/other --set expert.T=20`.
    """
    install_packages(session)
    args = session.posargs or ["--output", "runs/quickstart"]
    session.run("acbo-train", "run", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the tree (configuration in pyproject.toml)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over every package's sources."""
    install_packages(session, "mypy>=1.10")
    srcs = [str(p) for d in present_packages() for p in [ROOT / d / "src"] if p.is_dir()]
    session.run("mypy", *srcs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark in tools/ (`nox -s bench -- --quick` for a smoke run)."""
    install_packages(session)
    for script in sorted((ROOT / "tools").glob("bench_*.py")):
        session.log(f"== {script.name}")
        session.run("python", str(script), *session.posargs)


@nox.session
def build_cuda(session: nox.Session) -> None:
    """Compile acbo-kernels with its CUDA handlers (ACBO_CUDA=ON, sm_80/sm_90) using the
    installed nvcc, then check that they import and register. No GPU needed."""
    import shutil

    if shutil.which("nvcc") is None and not pathlib.Path("/usr/local/cuda/bin/nvcc").exists():
        session.error("nvcc not found: install the CUDA toolkit or put nvcc on PATH")
    session.install("jax>=0.10.2", "jaxlib>=0.10.2", "numpy>=1.26")
    # --no-cache-dir and --force-reinstall: always compile, never reuse a CPU-only wheel
    session.run(
        "python", "-m", "pip", "install", "--no-deps", "--force-reinstall", "--no-cache-dir",
        "./kernels", env={"ACBO_CUDA": "ON"},
    )
    session.run(
        "python", "-c",
        "import acbo_kernels as ak; s = ak.native_status(); "
        "assert s.available and s.cuda, s; print('CUDA handlers built and registered:', s)",
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through nox: python3 -m pip install nox && nox -s test")
