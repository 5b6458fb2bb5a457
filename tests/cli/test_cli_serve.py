"""``litegen serve`` under uvicorn on a free port, driven by the official ``openai``
client (and raw HTTP for what the client cannot send); every answer is checked against
the Python API on the same bundle."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import openai
import pytest
from tests.cli.conftest import CliModel, litegen_command

MODEL_ID = "model"  # the bundle's file stem
NEW = 10
PROMPTS = ["the quick brown fox", "hello there", "once upon a time", "a b c"]


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: CliModel) -> Server:
    port = free_port()
    command = litegen_command("serve", str(model.bundle), "--port", str(port), "--threads", "1")
    process = subprocess.Popen(
        [*command, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=model.env(),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"litegen serve exited: {process.communicate()[1]}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return Server(process, url)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("litegen serve did not start within 60 s")


def stop_server(server: Server, sig: int = signal.SIGTERM) -> tuple[int, str]:
    server.process.send_signal(sig)
    _, err = server.process.communicate(timeout=30)
    return server.process.returncode, err


@pytest.fixture(scope="module")
def server(cli_model: CliModel) -> Iterator[Server]:
    running = start_server(cli_model)
    yield running
    if running.process.poll() is None:
        stop_server(running)


def greedy_completion(reference, prompt: str, **kwargs):
    return reference.new_session().generate(prompt, max_new_tokens=NEW, **kwargs)


def greedy_chat(reference, messages: list[dict], **kwargs):
    return reference.new_session().chat(messages, max_new_tokens=NEW, **kwargs)


def test_models(server):
    models = server.client().models.list()
    assert [m.id for m in models.data] == [MODEL_ID]
    assert server.client().models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError):
        server.client().models.retrieve("gpt-4")


def test_completion(server, reference):
    expected = greedy_completion(reference, PROMPTS[0])
    response = server.client().completions.create(
        model=MODEL_ID, prompt=PROMPTS[0], max_tokens=NEW, temperature=0
    )
    choice = response.choices[0]
    assert choice.text == expected.text
    assert choice.finish_reason == (
        "length" if expected.stats.stop_reason == "max_new_tokens" else "stop"
    )
    assert response.usage.prompt_tokens == expected.stats.prompt_tokens
    assert response.usage.completion_tokens == expected.stats.generated_tokens
    assert response.usage.total_tokens == (
        expected.stats.prompt_tokens + expected.stats.generated_tokens
    )


def test_chat_completion(server, reference):
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": PROMPTS[1]},
    ]
    expected = greedy_chat(reference, messages)
    response = server.client().chat.completions.create(
        model=MODEL_ID, messages=messages, max_tokens=NEW, temperature=0
    )
    assert response.object == "chat.completion"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == expected.text
    assert response.usage.prompt_tokens == expected.stats.prompt_tokens


def test_streamed_chat_completion(server, reference):
    messages = [{"role": "user", "content": PROMPTS[2]}]
    expected = greedy_chat(reference, messages)
    stream = server.client().chat.completions.create(
        model=MODEL_ID,
        messages=messages,
        max_tokens=NEW,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([d for d in deltas if d]) > 1  # streamed in pieces
    assert "".join(deltas) == expected.text
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishing[-1] in ("length", "stop") and not any(finishing[:-1])
    assert chunks[-1].usage.completion_tokens == expected.stats.generated_tokens
    assert len({c.id for c in chunks}) == 1


def test_sampling_parameters_reach_the_engine(server, reference):
    sampling = {"temperature": 0.9, "top_p": 0.8, "seed": 7}
    extensions = {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1}
    expected = greedy_completion(reference, PROMPTS[3], **sampling, **extensions)
    response = server.client().completions.create(
        model=MODEL_ID, prompt=PROMPTS[3], max_tokens=NEW, **sampling, extra_body=extensions
    )
    assert response.choices[0].text == expected.text
    # A stop string cuts the text as the engine does.
    plain = greedy_completion(reference, PROMPTS[0])
    stop = plain.text[len(plain.text) // 2 :][:2]
    expected = greedy_completion(reference, PROMPTS[0], stop=[stop])
    response = server.client().completions.create(
        model=MODEL_ID, prompt=PROMPTS[0], max_tokens=NEW, temperature=0, stop=[stop]
    )
    assert response.choices[0].text == expected.text
    assert response.choices[0].finish_reason == "stop"


def test_bad_requests_are_4xx(server):
    client = server.client()
    with pytest.raises(openai.NotFoundError) as unknown:
        client.completions.create(model="gpt-4", prompt="hi", max_tokens=4)
    assert unknown.value.status_code == 404 and unknown.value.code == "model_not_found"

    with pytest.raises(openai.BadRequestError) as negative:
        client.completions.create(model=MODEL_ID, prompt="hi", max_tokens=-1)
    assert negative.value.body["param"] == "max_tokens"

    with pytest.raises(openai.BadRequestError) as several:
        client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert several.value.body["param"] == "n"

    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model=MODEL_ID, prompt="word " * 20000, max_tokens=4)
    assert too_long.value.code == "context_length_exceeded"

    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL_ID, prompt="hi", temperature=-1)

    for body in (b'{"model": "model", "prompt": ', b"[1, 2]", b"\xff\xfe"):
        raw = httpx.post(
            f"{server.url}/v1/completions",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert raw.status_code == 400
        assert raw.json()["error"]["type"] == "invalid_request_error"

    # The server still answers after all that.
    assert client.completions.create(model=MODEL_ID, prompt="hi", max_tokens=2).choices


def test_concurrent_clients_get_the_single_client_answers(server, reference):
    def request(i: int) -> str:
        client = server.client()
        prompt = PROMPTS[i % len(PROMPTS)]
        if i % 3 == 0:
            return (
                client.completions.create(
                    model=MODEL_ID, prompt=prompt, max_tokens=NEW, temperature=0
                )
                .choices[0]
                .text
            )
        messages = [{"role": "user", "content": prompt}]
        if i % 3 == 1:
            return (
                client.chat.completions.create(
                    model=MODEL_ID, messages=messages, max_tokens=NEW, temperature=0
                )
                .choices[0]
                .message.content
            )
        stream = client.chat.completions.create(
            model=MODEL_ID, messages=messages, max_tokens=NEW, temperature=0, stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    def single(i: int) -> str:
        prompt = PROMPTS[i % len(PROMPTS)]
        if i % 3 == 0:
            return greedy_completion(reference, prompt).text
        return greedy_chat(reference, [{"role": "user", "content": prompt}]).text

    count = 12
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(request, range(count)))
    assert answers == [single(i) for i in range(count)]
    assert len(set(answers)) > 1  # different prompts, different answers


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_stream_shuts_down_cleanly(cli_model, sig):
    running = start_server(cli_model)
    body = {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": "go on forever"}],
        "max_tokens": 16000,
        "ignore_eos": True,  # so only the shutdown can end it early
        "stream": True,
    }
    with httpx.stream("POST", f"{running.url}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[len("data: ") :])["object"] == "chat.completion.chunk"
        status, err = stop_server(running, sig)
        # The open stream is ended (cancelled), not left to run to its 16000 tokens.
        rest = [line for line in lines if line.startswith("data: ")]
    assert status == 0, err
    assert "Traceback" not in err
    assert rest[-1] == "data: [DONE]" and len(rest) < 16000


def test_missing_serve_extra_is_one_clear_line(cli_model):
    blocker = (
        "import sys; sys.modules['uvicorn'] = None; "
        "from litegen.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker, "serve", str(cli_model.bundle), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_model.env(),
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "litegen: error: litegen serve needs the 'serve' extra (uvicorn is missing): "
        "pip install 'litegen[serve]'"
    ]
