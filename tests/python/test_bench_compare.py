"""The tessera-vs-llama.cpp speed comparison runs in its short mode so it cannot rot.
(Figures are printed, never asserted: timings on a shared machine are noise.)"""
import json
import subprocess
import sys

from conftest import REPO, tessera_binary


def test_compare_script_short_mode(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare_llamacpp.py"), "--short", "--threads", "2",
         "--no-default-model", "--work-dir", str(tmp_path), "--binary", str(tessera_binary()),
         "--json-out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    rows = json.loads(out.read_text())
    assert {r["model"] for r in rows} == {"small Q4_K_M", "small Q4_0", "small Q8_0", "small Q5_K_M",
                                          "small Q3_K_M", "small Q4_1", "small Q5_1", "small Q2_K", "small Q6_K", "small F16",
                                          "small BF16"}
    for r in rows:
        for key in ("tessera_pp", "llamacpp_pp", "tessera_tg", "llamacpp_tg", "pp_ratio", "tg_ratio",
                    "weights_read_gbps", "bandwidth_share"):
            assert r[key] > 0, (r["model"], key)
    assert "| small Q4_K_M |" in proc.stdout


def test_compare_script_rejects_unknown_types(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare_llamacpp.py"), "--short", "--types", "Q4_0,Q9_9",
         "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "unknown --types Q9_9" in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing is written before the arguments are checked"
