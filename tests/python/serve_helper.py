"""Starts `tessera serve` on 127.0.0.1 for a test and talks to it with the standard library.

The server is started with --port 0 and reports the port it got ("listening on
http://HOST:PORT"), so parallel test runs never race for a port. Teardown sends
SIGTERM and requires a clean exit (code 0): a server that cannot shut down is a bug.
"""
import http.client
import json
import re
import subprocess
import threading
import time
import urllib.parse

from conftest import tessera_binary
from prometheus_text import parse_metrics

START_TIMEOUT_S = 120


class Server:
    def __init__(self, model, *args, api_key=None):
        self.api_key = api_key
        cmd = [str(tessera_binary()), "serve", "-m", str(model), "--host", "127.0.0.1", "--port", "0", *map(str, args)]
        if api_key:
            cmd += ["--api-key", api_key]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout_lines = []
        self.stderr_lines = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines), daemon=True).start()
        self.url = self._wait_for_url()
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True).start()
        parsed = urllib.parse.urlparse(self.url)
        self.host, self.port = parsed.hostname, parsed.port
        self._wait_healthy()

    @staticmethod
    def _drain(stream, lines):
        for line in stream:
            lines.append(line)

    def _wait_for_url(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.stdout_lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                return m.group(1)
        self.proc.kill()
        raise AssertionError(f"tessera serve did not start:\n{''.join(self.stdout_lines)}\n{''.join(self.stderr_lines)}")

    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                status, _ = self.request("GET", "/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("tessera serve never answered /health")

    def headers(self, extra=None):
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        h.update(extra or {})
        return h

    def request(self, method, path, body=None, headers=None, raw=None, timeout=300):
        """Returns (status, parsed JSON or text). `raw` sends bytes as they are."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            conn.request(method, path, body=data, headers=self.headers(headers))
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", errors="replace")
            ctype = resp.getheader("Content-Type", "")
            return resp.status, (json.loads(text) if "json" in ctype else text)
        finally:
            conn.close()

    def post(self, path, body, **kw):
        return self.request("POST", path, body=body, **kw)

    def stream(self, path, body, timeout=300):
        """POSTs a streaming request; returns the list of parsed SSE data objects (and "[DONE]")."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=json.dumps({**body, "stream": True}).encode(), headers=self.headers())
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            assert resp.getheader("Content-Type", "").startswith("text/event-stream")
            events = []
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data: "):
                    payload = line[len("data: "):]
                    events.append(payload if payload == "[DONE]" else json.loads(payload))
            return events
        finally:
            conn.close()

    def metrics(self):
        """Parses /metrics into {"name{labels}": value}."""
        status, text = self.request("GET", "/metrics")
        assert status == 200, text
        return parse_metrics(text)

    def wait_for(self, condition, timeout=60):
        """Waits until condition(metrics) holds; returns the metrics then."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if condition(m):
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached after {timeout}s: {m}")
            time.sleep(0.05)

    def wait_idle(self, timeout=60):
        """Waits until no sequence is running or waiting; returns the metrics then."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if m["tessera_requests_running"] == 0 and m["tessera_requests_waiting"] == 0:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"server still busy after {timeout}s: {m}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("tessera serve did not stop within 30 s of SIGTERM")
            assert code == 0, f"tessera serve exited {code}:\n{''.join(self.stderr_lines)[-4000:]}"
