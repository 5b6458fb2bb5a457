"""The OpenAI request rules of ``litegen serve`` (pure functions), and the app built by
``create_app`` driven in-process (no socket) with Starlette's TestClient."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from litegen.serve.app import create_app
from litegen.serve.protocol import (
    COMPLETION_DEFAULT_MAX_TOKENS,
    ApiError,
    finish_reason,
    parse_chat,
    parse_completion,
)

CONTEXT = 256


def completion(**body):
    return parse_completion({"model": "m", **body}, model_id="m", max_context=CONTEXT)


def chat(**body):
    return parse_chat({"model": "m", **body}, model_id="m", max_context=CONTEXT)


def rejected(parse, status=400, **body) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(**body)
    assert info.value.status == status
    return info.value


def test_completion_defaults_and_mapping():
    request = completion(prompt="hi")
    kwargs = request.engine_kwargs
    assert request.prompt == "hi" and not request.stream
    assert kwargs["max_new_tokens"] == COMPLETION_DEFAULT_MAX_TOKENS
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["stop"]) == (1.0, 1.0, [])
    # No seed: a different one per request, as OpenAI samples differently each time.
    assert {completion(prompt="hi").engine_kwargs["seed"] for _ in range(4)} != {kwargs["seed"]}
    request = completion(
        prompt=["hi"],  # a batch of one
        max_tokens=5000,  # capped at the context
        temperature=0,
        top_p=0.5,
        seed=3,
        stop="\n",
        top_k=4,
        min_p=0.1,
        repetition_penalty=1.2,
        presence_penalty=0,  # the default value of an unsupported option is fine
        stream=True,
        stream_options={"include_usage": True},
    )
    assert request.prompt == "hi" and request.stream and request.include_usage
    assert request.engine_kwargs == {
        "max_new_tokens": CONTEXT,
        "temperature": 0.0,
        "top_p": 0.5,
        "top_k": 4,
        "min_p": 0.1,
        "repetition_penalty": 1.2,
        "seed": 3,
        "stop": ["\n"],
    }
    assert completion(prompt=[1, 2, 3]).prompt == [1, 2, 3]
    assert completion(prompt="hi", ignore_eos=True).engine_kwargs["stop_token_ids"] == ()
    assert "stop_token_ids" not in completion(prompt="hi", ignore_eos=False).engine_kwargs


def test_invalid_requests():
    assert rejected(completion, status=404, prompt="hi", model="other").code == "model_not_found"
    assert rejected(parse_completion, body={"prompt": "hi"}, model_id="m", max_context=1)
    assert rejected(completion, prompt=["a", "b"]).param == "prompt"
    assert rejected(completion, prompt="").param == "prompt"
    assert rejected(completion, prompt=[1, -2]).param == "prompt"
    assert rejected(completion, prompt="hi", max_tokens=-1).param == "max_tokens"
    assert rejected(completion, prompt="hi", max_tokens=2.5).param == "max_tokens"
    assert rejected(completion, prompt="hi", n=2).param == "n"
    assert rejected(completion, prompt="hi", temperature="hot").param == "temperature"
    assert rejected(completion, prompt="hi", temperature=3).param == "temperature"
    assert rejected(completion, prompt="hi", top_p=float("nan")).param == "top_p"
    assert rejected(completion, prompt="hi", seed=-1).param == "seed"
    assert rejected(completion, prompt="hi", stop=["a"] * 5).param == "stop"
    assert rejected(completion, prompt="hi", logprobs=2).param == "logprobs"
    assert rejected(completion, prompt="hi", stream="yes").param == "stream"
    assert rejected(completion, prompt="hi", ignore_eos=1).param == "ignore_eos"
    assert rejected(chat, messages=[]).param == "messages"
    assert rejected(chat, messages=[{"content": "no role"}]).param == "messages"
    image = {"type": "image_url", "image_url": {"url": "x"}}
    assert rejected(chat, messages=[{"role": "user", "content": [image]}]).param == "messages"
    assert rejected(chat, messages=[{"role": "user", "content": "hi"}], tools=[{}])
    with pytest.raises(ApiError):
        parse_chat([1, 2], model_id="m", max_context=CONTEXT)


def test_chat_messages_and_limits():
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    request = chat(
        messages=[{"role": "user", "content": parts, "name": "x"}], max_completion_tokens=7
    )
    assert request.messages == [{"role": "user", "content": "ab"}]
    assert request.engine_kwargs["max_new_tokens"] == 7
    # Chat answers may run to the end of the context unless limited.
    assert chat(messages=[{"role": "user", "content": "hi"}]).engine_kwargs["max_new_tokens"] == (
        CONTEXT
    )
    assert [finish_reason(r) for r in ("stop_token", "stop_string", "context_full")] == [
        "stop",
        "stop",
        "length",
    ]


def test_app_without_a_socket(reference):
    messages = [{"role": "user", "content": "hello"}]
    expected = reference.new_session().chat(messages, max_new_tokens=6)
    with TestClient(create_app(reference, "tiny")) as client:
        assert client.get("/v1/models").json()["data"][0]["id"] == "tiny"
        body = {"model": "tiny", "messages": messages, "max_tokens": 6, "temperature": 0}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == expected.text
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
            events = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        missing = client.post("/v1/embeddings", json={})
        assert missing.status_code == 404 and "error" in missing.json()
        wrong_method = client.get("/v1/completions")
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_worker_cancels_a_job_and_serves_the_next(reference):
    """What happens when a client goes away: its job is cancelled within a step (no
    result), and the request queued behind it runs normally."""
    import asyncio

    from litegen.serve.protocol import GenerationRequest
    from litegen.serve.worker import EngineWorker

    long = GenerationRequest(
        "completion", "hello", None, {"max_new_tokens": 16000, "stop_token_ids": ()}
    )
    short = GenerationRequest("completion", "hello", None, {"max_new_tokens": 4})
    expected = reference.new_session().generate("hello", max_new_tokens=4)

    async def scenario() -> tuple[list, list]:
        worker = EngineWorker(reference)
        worker.start()
        try:
            first, second = worker.submit(long), worker.submit(short)
            assert (await first.events.get()).kind == "start"
            assert (await first.events.get()).kind == "piece"
            worker.cancel(first)
            first_events = []
            while (event := await first.events.get()).kind != "done":
                first_events.append(event)
            first_events.append(event)
            second_events = []
            while (event := await second.events.get()).kind != "done":
                second_events.append(event)
            second_events.append(event)
            return first_events, second_events
        finally:
            worker.stop()

    first_events, second_events = asyncio.run(scenario())
    assert first_events[-1].result is None  # cancelled
    assert len(first_events) < 16000
    assert second_events[0].kind == "start"
    text = "".join(e.text for e in second_events if e.kind == "piece")
    assert text == expected.text
    assert second_events[-1].result.token_ids == expected.token_ids
