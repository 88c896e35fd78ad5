#!/usr/bin/env python3
"""Load benchmark for `tessera serve` (not a timed test).

Starts the server once per scheduling policy and runs two scenarios against it:

  clients   N concurrent clients (default 1, 4, 8, 16), each sending streaming
            completions with prompts of --prompt-tokens tokens (token ids, distinct
            per request so the prefix cache does not help) and --gen-tokens tokens
            to generate. Reports total generated tokens/s over the phase, and
            time to first token (TTFT) and time per output token (TPOT) p50/p99.
  arrivals  7 streams decode --arrival-gen tokens each; --arrival-delay seconds after
            all of them are decoding, prompts of --arrival-prompt tokens start
            arriving every --arrival-every seconds.
            Reports the 7 streams' inter-token gaps p50/p99 before and during the
            arrivals: a latency-controlled policy keeps the second close to the
            first, unchunked FCFS shows the spike.

  build/venv/bin/python bench/serve_load.py -m MODEL.gguf              # full run
  build/venv/bin/python bench/serve_load.py --short                    # CI smoke
  build/venv/bin/python bench/serve_load.py --json out.json ...        # raw figures

With --llama-server PATH (llama.cpp's own server, built by bench/build_llama_server.sh
from the llama.cpp that llama-cpp-python vendors), the clients scenario also runs
against it (--llama-slots parallel slots, continuous batching, same threads and model)
and every figure is printed as a ratio tessera / llama.cpp from the same run.

Timings are client-side (what an API user sees), measured on chunk arrival.
TPOT of a request = (last chunk - first chunk) / (completion tokens - 1).
"""
import argparse
import http.client
import json
import os
import pathlib
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from prometheus_text import parse_metrics  # noqa: E402


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


class Server:
    def __init__(self, binary, model, args):
        cmd = [str(binary), "serve", "--host", "127.0.0.1", "--port", "0", *args]
        if model:
            cmd += ["-m", str(model)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            m = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
        else:
            raise SystemExit("tessera serve did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def post(self, path, body):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {data}")
        return data

    def metrics(self):
        """/metrics as {"name{labels}": value}."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return parse_metrics(text)

    def stream(self, body, on_first_token=None):
        """Streams one completion; returns (start, [chunk arrival times], usage).
        on_first_token() is called when the first text chunk arrives."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        start = time.perf_counter()
        conn.request("POST", "/v1/completions",
                     body=json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status} {resp.read()[:200]}")
        times, usage = [], None
        for raw in resp:
            if not raw.startswith(b"data: {"):
                continue
            event = json.loads(raw[6:])
            if event.get("usage"):
                usage = event["usage"]
            if event.get("choices") and event["choices"][0].get("text"):
                times.append(time.perf_counter())
                if len(times) == 1 and on_first_token:
                    on_first_token()
        conn.close()
        return start, times, usage

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


class LlamaServer(Server):
    """llama.cpp's llama-server on the same model and threads: the reference.
    It speaks the same /tokenize and streaming /v1/completions (usage with
    stream_options.include_usage), so the clients scenario runs unchanged."""

    def __init__(self, binary, model, threads, slots, ctx_per_slot):
        with socket.socket() as s:  # a free port: llama-server does not report one it picked
            s.bind(("127.0.0.1", 0))
            self.host, self.port = "127.0.0.1", s.getsockname()[1]
        cmd = [str(binary), "-m", str(model), "--host", self.host, "--port", str(self.port), "-t", str(threads),
               "-tb", str(threads), "-np", str(slots), "-c", str(ctx_per_slot * slots), "--no-webui"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"llama-server exited with {self.proc.returncode}: {' '.join(cmd)}")
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", "/health")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit("llama-server did not become healthy within 300 s")


def random_prompts(server, n, tokens, seed):
    """n distinct prompts of exactly `tokens` token ids (random words, tokenized by the server)."""
    rng = random.Random(seed)
    words = ("time year people way day man thing woman life child world school state family student group country "
             "problem hand part place case week company system program question work government number night point "
             "home water room mother area money story fact month lot right study book eye job word business issue "
             "side kind head house service friend father power hour game line end member law car city community").split()
    prompts = []
    for _ in range(n):
        ids = []
        while len(ids) < tokens:
            text = " ".join(rng.choice(words) for _ in range(tokens))
            ids = server.post("/tokenize", {"content": text, "add_special": True})["tokens"]
        prompts.append(ids[:tokens])
    return prompts


def run_clients(server, n_clients, prompt_tokens, gen_tokens, per_client, seed, extra_fields=None):
    prompts = random_prompts(server, n_clients * per_client, prompt_tokens, seed)
    ttft, tpot, generated = [], [], 0
    lock = threading.Lock()

    def client(c):
        nonlocal generated
        for r in range(per_client):
            start, times, usage = server.stream({"prompt": prompts[c * per_client + r], "max_tokens": gen_tokens,
                                                 "temperature": 0, **(extra_fields or {})})
            with lock:
                generated += usage["completion_tokens"]
                if times:
                    ttft.append(times[0] - start)
                if usage["completion_tokens"] > 1 and len(times) > 1:
                    tpot.append((times[-1] - times[0]) / (usage["completion_tokens"] - 1))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        list(pool.map(client, range(n_clients)))
    wall = time.perf_counter() - t0
    return {"clients": n_clients, "requests": n_clients * per_client, "generated_tokens": generated,
            "seconds": wall, "gen_tok_s": generated / wall,
            "ttft_p50_ms": 1e3 * percentile(ttft, 50), "ttft_p99_ms": 1e3 * percentile(ttft, 99),
            "tpot_p50_ms": 1e3 * percentile(tpot, 50), "tpot_p99_ms": 1e3 * percentile(tpot, 99)}


def run_arrivals(server, args, seed):
    """7 decoding streams; long prompts arrive during the second half of their decode."""
    streams = random_prompts(server, 7, 32, seed)
    arrivals = random_prompts(server, args.arrival_count, args.arrival_prompt, seed + 1)
    results = [None] * 7
    # The baseline is the streams' steady decoding with no arrivals: gaps are
    # counted from the moment the last stream got its first token (before it,
    # the streams' own prompts are still being prefilled among the decodes).
    started, lock, ready = [0], threading.Lock(), threading.Event()

    def first_token():
        with lock:
            started[0] += 1
            if started[0] == 7:
                ready.set()

    def decode(i):
        results[i] = server.stream({"prompt": streams[i], "max_tokens": args.arrival_gen, "temperature": 0},
                                   on_first_token=first_token)

    threads = [threading.Thread(target=decode, args=(i,)) for i in range(7)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    if not ready.wait(timeout=600):
        raise RuntimeError("the 7 streams did not all start within 600 s")
    t_ready = time.perf_counter()
    before = server.metrics()
    # Steady decoding for a while, then the arrivals.
    time.sleep(args.arrival_delay)
    t_arrivals = time.perf_counter()
    arrival_threads = []
    for ids in arrivals:
        th = threading.Thread(target=server.post, args=("/v1/completions", {"prompt": ids, "max_tokens": 1}))
        th.start()
        arrival_threads.append(th)
        time.sleep(args.arrival_every)
    for th in arrival_threads:
        th.join()
    t_end_arrivals = time.perf_counter()
    for t in threads:
        t.join()
    quiet, busy = [], []
    for _, times, _ in results:
        for a, b in zip(times, times[1:]):
            if a >= t_ready and b <= t_arrivals:
                quiet.append(b - a)
            elif a >= t_arrivals and b <= t_end_arrivals:
                busy.append(b - a)
    # The engine's own step times from the streams' steady state on
    # (/metrics): what a decode-only step of the streams costs against a step
    # that also carries a prefill chunk.
    after = server.metrics()

    def delta(key):
        return after.get(key, 0.0) - before.get(key, 0.0)

    def mean_ms(kind):
        n = delta(f'tessera_engine_step_seconds_count{{kind="{kind}"}}')
        return 1e3 * delta(f'tessera_engine_step_seconds_sum{{kind="{kind}"}}') / n if n else float("nan")

    mixed_steps = delta('tessera_engine_step_seconds_count{kind="mixed"}')
    engine = {"step_ms_decode": mean_ms("decode"), "step_ms_mixed": mean_ms("mixed"), "mixed_steps": mixed_steps}
    return {**engine, "streams": 7, "arrivals": len(arrivals), "arrival_prompt_tokens": args.arrival_prompt,
            "gaps_before": len(quiet), "gaps_during": len(busy),
            "tpot_p50_ms_before": 1e3 * percentile(quiet, 50), "tpot_p99_ms_before": 1e3 * percentile(quiet, 99),
            "tpot_p50_ms_during": 1e3 * percentile(busy, 50), "tpot_p99_ms_during": 1e3 * percentile(busy, 99),
            "seconds": time.perf_counter() - t0}


def print_ratios(runs):
    """tessera / llama.cpp for every clients figure of the same run."""
    ref = {r["clients"]: r for r in runs if r["policy"] == "llama.cpp" and r["scenario"] == "clients"}
    print("\ntessera / llama.cpp, same run (gen tok/s: higher is better; TTFT, TPOT: lower is better)")
    print("| policy | clients | gen tok/s ratio | TTFT p50 ratio | TPOT p50 ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in runs:
        base = ref.get(r.get("clients"))
        if r["policy"] == "llama.cpp" or r["scenario"] != "clients" or base is None:
            continue
        print(f"| {r['policy']} | {r['clients']} | {r['gen_tok_s'] / base['gen_tok_s']:.2f} | "
              f"{r['ttft_p50_ms'] / base['ttft_p50_ms']:.2f} | {r['tpot_p50_ms'] / base['tpot_p50_ms']:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", help="GGUF model (default: the server's default model)")
    ap.add_argument("--binary", default=os.environ.get("TESSERA_BIN", str(REPO / "build" / "tessera")))
    ap.add_argument("--policies", default="fcfs,fair")
    ap.add_argument("--clients", default="1,4,8,16")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--per-client", type=int, default=2, help="requests each client sends one after another")
    ap.add_argument("--scenario", choices=["clients", "arrivals", "all"], default="all")
    ap.add_argument("--arrival-prompt", type=int, default=1000)
    ap.add_argument("--arrival-gen", type=int, default=256)
    ap.add_argument("--arrival-count", type=int, default=4)
    ap.add_argument("--arrival-every", type=float, default=1.0)
    ap.add_argument("--arrival-delay", type=float, default=3.0)
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-seqs", type=int, default=16)
    ap.add_argument("--ctx-size", type=int, default=2048)
    ap.add_argument("--extra", default="", help="more `tessera serve` flags, space-separated")
    ap.add_argument("--short", action="store_true", help="CI smoke: tiny sizes, clients 1 and 4")
    ap.add_argument("--json", help="write all figures to this file")
    ap.add_argument("--llama-server", help="llama.cpp's llama-server binary: run the clients scenario against it too")
    ap.add_argument("--llama-slots", type=int, default=16, help="llama-server parallel slots (-np)")
    args = ap.parse_args()
    if args.short:
        args.clients, args.prompt_tokens, args.gen_tokens, args.per_client = "1,4", 16, 8, 1
        args.arrival_prompt, args.arrival_gen, args.arrival_count = 64, 24, 2
        args.arrival_every, args.arrival_delay, args.ctx_size = 0.05, 0.1, 256

    report = {"command": " ".join(sys.argv), "runs": []}

    def clients_table(server, label, extra_fields=None):
        print(f"\n[{label}] clients  prompt={args.prompt_tokens} gen={args.gen_tokens}")
        print("| clients | gen tok/s | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | TPOT p99 ms |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in map(int, args.clients.split(",")):
            r = run_clients(server, n, args.prompt_tokens, args.gen_tokens, args.per_client, seed=n,
                            extra_fields=extra_fields)
            report["runs"].append({"policy": label, "scenario": "clients", **r})
            print(f"| {n} | {r['gen_tok_s']:.1f} | {r['ttft_p50_ms']:.0f} | {r['ttft_p99_ms']:.0f} | "
                  f"{r['tpot_p50_ms']:.1f} | {r['tpot_p99_ms']:.1f} |", flush=True)

    for policy in args.policies.split(","):
        server = Server(args.binary, args.model,
                        ["--policy", policy, "-t", str(args.threads), "--max-seqs", str(args.max_seqs),
                         "--ctx-size", str(args.ctx_size), *args.extra.split()])
        try:
            if args.scenario in ("clients", "all"):
                clients_table(server, policy)
            if args.scenario in ("arrivals", "all"):
                r = run_arrivals(server, args, seed=99)
                report["runs"].append({"policy": policy, "scenario": "arrivals", **r})
                print(f"\n[{policy}] arrivals: {r['arrivals']} x {r['arrival_prompt_tokens']}-token prompts among 7 "
                      f"streams: inter-token p50/p99 {r['tpot_p50_ms_before']:.1f}/{r['tpot_p99_ms_before']:.1f} ms "
                      f"before, {r['tpot_p50_ms_during']:.1f}/{r['tpot_p99_ms_during']:.1f} ms during; engine steps: "
                      f"decode-only {r['step_ms_decode']:.1f} ms, with a prefill chunk {r['step_ms_mixed']:.1f} ms "
                      f"({r['mixed_steps']:.0f} steps)", flush=True)
        finally:
            server.stop()

    if args.llama_server and args.scenario in ("clients", "all"):
        model = args.model or (REPO / "build" / "default-model.txt").read_text().strip()
        server = LlamaServer(args.llama_server, model, args.threads, args.llama_slots, args.ctx_size)
        try:
            # ignore_eos: llama.cpp generates the requested length, as tessera does
            # on these prompts (usage counts what each really generated either way).
            clients_table(server, "llama.cpp", extra_fields={"ignore_eos": True})
        finally:
            server.stop()
        print_ratios(report["runs"])
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
