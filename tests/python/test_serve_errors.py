"""Bad requests get the right status and an OpenAI error object (must-show 5);
a client that drops a stream leaves no sequence running; garbage on the socket
neither crashes nor stalls the server."""
import http.client
import json
import socket

import pytest

from conftest import SERVE_API_KEY

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
GOOD = {"prompt": "w1 w2", "max_tokens": 2}


def expect_error(result, status, param=None, code=None, contains=None):
    got_status, body = result
    assert got_status == status, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    if contains is not None:
        assert contains in err["message"], err


@pytest.mark.parametrize("body,param,contains", [
    ({**GOOD, "max_tokens": 0}, "max_tokens", "at least 1"),
    ({**GOOD, "max_tokens": -5}, "max_tokens", "at least 1"),
    ({**GOOD, "max_tokens": "ten"}, "max_tokens", "integer"),
    ({**GOOD, "max_tokens": 2.5}, "max_tokens", "integer"),
    ({**GOOD, "temperature": "hot"}, "temperature", "number"),
    ({**GOOD, "temperature": 3}, "temperature", "between"),
    ({**GOOD, "top_p": 0}, "top_p", "greater than 0"),
    ({**GOOD, "n": 5}, "n", "between"),
    ({**GOOD, "n": 0}, "n", "between"),
    ({**GOOD, "stream": "yes"}, "stream", "boolean"),
    ({**GOOD, "stop": 7}, "stop", "string"),
    ({**GOOD, "logprobs": 50}, "logprobs", "between"),
    ({**GOOD, "stream_options": {"include_usage": True}}, "stream_options", "stream"),
    ({"max_tokens": 2}, "prompt", "required"),
    ({"prompt": {"text": "x"}}, "prompt", "string"),
    ({"prompt": [1, 99999]}, "prompt", "vocabulary"),
])
def test_bad_completion_fields(small_server, body, param, contains):
    expect_error(small_server.post(COMPLETIONS, body), 400, param=param, contains=contains)


@pytest.mark.parametrize("body,param", [
    ({"messages": "hello"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}, "top_logprobs"),
    # The Gemma 3 template's raise_exception: roles must alternate.
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "messages"),
])
def test_bad_chat_fields(small_server, body, param):
    expect_error(small_server.post(CHAT, {"max_tokens": 2, **body}), 400, param=param)


def test_template_exception_message_reaches_the_client(small_server):
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    expect_error(small_server.post(CHAT, {"messages": messages}), 400,
                 contains="Conversation roles must alternate")


def test_malformed_json(small_server):
    expect_error(small_server.post(COMPLETIONS, None, raw=b'{"prompt": "w1", '), 400, contains="JSON")
    expect_error(small_server.post(COMPLETIONS, None, raw=b"[1, 2]"), 400, contains="object")


def test_unknown_model_is_404(small_server):
    expect_error(small_server.post(COMPLETIONS, {**GOOD, "model": "gpt-4o"}), 404, param="model",
                 code="model_not_found")
    expect_error(small_server.request("GET", "/v1/models/gpt-4o"), 404, code="model_not_found")


def test_prompt_longer_than_context(small_server):
    expect_error(small_server.post(COMPLETIONS, {"prompt": " ".join(f"w{i}" for i in range(300)), "max_tokens": 1}),
                 400, code="context_length_exceeded", contains="maximum context length is 256")
    expect_error(small_server.post(COMPLETIONS, {"prompt": "w1", "max_tokens": 1000}), 400,
                 code="context_length_exceeded")


def test_body_too_large_is_413(small_server):
    huge = {"prompt": "w1 " * 40000, "max_tokens": 1}
    expect_error(small_server.post(COMPLETIONS, huge), 413, contains="65536")


def test_api_key(small_server):
    no_key = {"Authorization": ""}
    expect_error(small_server.post(COMPLETIONS, GOOD, headers=no_key), 401, code="invalid_api_key")
    expect_error(small_server.post(COMPLETIONS, GOOD, headers={"Authorization": "Bearer wrong"}), 401,
                 code="invalid_api_key")
    expect_error(small_server.request("GET", "/metrics", headers={"Authorization": "Bearer " + SERVE_API_KEY[:-1]}),
                 401)
    assert small_server.request("GET", "/health", headers=no_key)[0] == 200
    assert small_server.post(COMPLETIONS, GOOD)[0] == 200


def test_unknown_route_is_404(small_server):
    expect_error(small_server.request("GET", "/v1/nothing"), 404, contains="/v1/nothing")
    expect_error(small_server.post("/v2/completions", GOOD), 404)


def test_tokenize_bad_bodies(small_server):
    expect_error(small_server.post("/tokenize", {"content": 5}), 400, param="content")
    expect_error(small_server.post("/detokenize", {"tokens": [1, -3]}), 400, param="tokens")
    expect_error(small_server.post("/detokenize", None, raw=b"nope"), 400)


def test_garbage_on_the_socket_does_not_hurt(small_server):
    for payload in (b"\x00\xff" * 100 + b"\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nContent-Length: 99999\r\n\r\n{",
                    b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n"):
        with socket.create_connection((small_server.host, small_server.port), timeout=10) as s:
            s.sendall(payload)
    assert small_server.request("GET", "/health")[0] == 200
    assert small_server.post(COMPLETIONS, GOOD)[0] == 200


def test_client_dropping_a_stream_cancels_its_sequence(default_server):
    before = default_server.metrics()['tessera_requests_total{status="cancelled"}']
    conn = http.client.HTTPConnection(default_server.host, default_server.port, timeout=120)
    body = {"prompt": "Write a very long story about a dragon.", "max_tokens": 900, "temperature": 0, "stream": True}
    conn.request("POST", COMPLETIONS, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    received = 0
    while received < 3:  # a few tokens arrive, then the client goes away
        line = resp.fp.readline()
        if line.startswith(b"data: {"):
            received += 1
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    m = default_server.wait_idle(timeout=120)
    assert m['tessera_requests_total{status="cancelled"}'] == before + 1
    assert m['tessera_kv_blocks{state="used"}'] == 0


def test_client_dropping_a_plain_request_cancels_its_sequence(default_server):
    # A non-streaming request writes nothing until it is complete, so the
    # server has to notice the closed socket itself, well before max_tokens.
    before = default_server.metrics()
    body = {"prompt": "Write a very long story about a dragon.", "max_tokens": 900, "temperature": 0}
    payload = json.dumps(body).encode()
    with socket.create_connection((default_server.host, default_server.port), timeout=30) as s:
        s.sendall(b"POST " + COMPLETIONS.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        tokens_before = before["tessera_generation_tokens_total"]
        default_server.wait_for(lambda m: m["tessera_generation_tokens_total"] >= tokens_before + 3)
    m = default_server.wait_idle(timeout=120)
    assert m['tessera_requests_total{status="cancelled"}'] == before['tessera_requests_total{status="cancelled"}'] + 1
    assert m['tessera_kv_blocks{state="used"}'] == 0
    generated = m["tessera_generation_tokens_total"] - before["tessera_generation_tokens_total"]
    assert generated < 900, generated
