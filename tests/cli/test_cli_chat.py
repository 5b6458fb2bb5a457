"""``litegen chat`` driven through a pseudo-terminal, as a person would: two turns (each
checked against the Python API), Ctrl-C in the middle of a long answer, a turn after it
on the same session, /reset, Ctrl-D to quit."""

from __future__ import annotations

import re

import pexpect
from tests.cli.conftest import litegen_command

NEW = 8
STATS = re.compile(r"\r\n\[(\d+) prompt tokens(?:, (\d+) reused)?, (\d+) generated;[^\]]*\]\r\n")


def ask(child: pexpect.spawn, text: str) -> tuple[str, int, int]:
    """Sends one line; returns the answer as the terminal showed it, and the prompt and
    reused token counts from the stats line."""
    child.sendline(text)
    child.expect_exact(text + "\r\n")  # the terminal's echo
    child.expect(STATS)
    answer = child.before
    prompt_tokens, reused = int(child.match.group(1)), int(child.match.group(2) or 0)
    assert int(child.match.group(3)) == NEW
    child.expect_exact(">>> ")
    return answer, prompt_tokens, reused


def shown(text: str) -> str:
    return text.replace("\n", "\r\n")  # the terminal's newline translation


def test_chat_turns_ctrl_c_and_quit(cli_model, reference):
    command = litegen_command("chat", str(cli_model.bundle), "-n", str(NEW), "--ignore-eos")
    child = pexpect.spawn(
        command[0],
        [*command[1:], "--stats"],
        env={**cli_model.env(), "TERM": "dumb"},
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect_exact(">>> ")
        reference_session = reference.new_session()
        messages = [{"role": "user", "content": "hello"}]
        expected = reference_session.chat(messages, max_new_tokens=NEW, stop_token_ids=())
        answer, prompt_tokens, reused = ask(child, "hello")
        assert answer == shown(expected.text)
        assert (prompt_tokens, reused) == (expected.stats.prompt_tokens, 0)

        messages += [
            {"role": "assistant", "content": expected.text},
            {"role": "user", "content": "and then?"},
        ]
        expected = reference.new_session().chat(messages, max_new_tokens=NEW, stop_token_ids=())
        answer, prompt_tokens, reused = ask(child, "and then?")
        assert answer == shown(expected.text)
        second_turn_tokens = prompt_tokens
        assert prompt_tokens == expected.stats.prompt_tokens
        assert reused > 0  # the first turn's prefix was not prefilled again

        # A long answer (the whole context), stopped as soon as it starts showing.
        child.sendline("/set max_new_tokens 16000")
        child.expect_exact("[max_new_tokens = 16000]")
        child.expect_exact(">>> ")
        child.sendline("tell me everything")
        child.expect_exact("tell me everything\r\n")
        child.expect(r"\S")  # the first character of the answer
        child.sendintr()
        child.expect_exact("[stopped]\r\n")
        child.expect_exact(">>> ")

        # Same session, conversation kept: the next turn reuses everything before the
        # stopped answer (had that answer run on, it would have filled the context and
        # this turn would not fit).
        child.sendline(f"/set max_new_tokens {NEW}")
        child.expect_exact(">>> ")
        _, prompt_tokens, reused = ask(child, "short answer please")
        assert reused > second_turn_tokens
        assert prompt_tokens < 16000

        # /reset: a new conversation, nothing reused, the same answer as a fresh session.
        child.sendline("/reset")
        child.expect_exact("[new conversation]")
        child.expect_exact(">>> ")
        expected = reference.new_session().chat(
            [{"role": "user", "content": "hello"}], max_new_tokens=NEW, stop_token_ids=()
        )
        answer, prompt_tokens, reused = ask(child, "hello")
        assert answer == shown(expected.text)
        assert (prompt_tokens, reused) == (expected.stats.prompt_tokens, 0)

        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
