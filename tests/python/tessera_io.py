"""Running tessera's raw helpers from Python."""
import numpy as np

from conftest import run_tessera


# tessera's llama.cpp parity mode: the row kernels in llama.cpp's float order
# instead of the packed 16-row kernels (docs/correctness.md).
PARITY_MODE = {"TESSERA_REPACK": "0"}


def logits(model, tokens, tmp_path, batch=512, env=None):
    tok_file = tmp_path / "tokens.i32"
    out_file = tmp_path / "logits.f32"
    np.asarray(tokens, dtype=np.int32).tofile(tok_file)
    run_tessera("dev", "logits", "-m", model, "--tokens-file", tok_file, "--out", out_file,
                "--batch", batch, env=env)
    data = np.fromfile(out_file, dtype=np.float32)
    out_file.unlink()
    return data.reshape(len(tokens), -1)
