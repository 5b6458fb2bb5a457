"""``litegen run``: streamed text equal to the Python API's, prompt sources, stats, JSON,
and one-line errors (subprocesses, as a user runs it)."""

from __future__ import annotations

import json
import subprocess

from tests.cli.conftest import CliModel, litegen_command

PROMPT = "the quick brown fox"
NEW = 12


def run(model: CliModel, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        litegen_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=model.env(),
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The error a failed command printed: exactly one 'litegen: error:' line, no
    traceback (LiteRT's own INFO lines aside)."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("litegen: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_run_streams_the_chat_answer(cli_model, reference):
    proc = run(cli_model, "run", str(cli_model.bundle), PROMPT, "-n", str(NEW), "--ignore-eos")
    assert proc.returncode == 0, proc.stderr
    # The bundle has a chat template: the prompt goes in as a user message.
    expected = reference.new_session().chat(
        [{"role": "user", "content": PROMPT}], max_new_tokens=NEW, stop_token_ids=()
    )
    assert expected.text and proc.stdout == expected.text + "\n"
    stats = expected.stats
    assert f"[{stats.prompt_tokens} prompt tokens, {NEW} generated;" in proc.stderr
    assert "stop: max_new_tokens]" in proc.stderr


def test_run_raw_prompt_from_stdin_file_and_json(cli_model, reference, tmp_path):
    expected = reference.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    common = ["-n", str(NEW), "--ignore-eos", "--no-chat-template"]

    piped = run(cli_model, "run", str(cli_model.bundle), *common, "-q", stdin=PROMPT)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == expected.text + "\n"
    assert "prompt tokens" not in piped.stderr  # --quiet

    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT, encoding="utf-8")
    from_file = run(cli_model, "run", str(cli_model.bundle), "-f", str(prompt_file), *common)
    assert from_file.returncode == 0 and from_file.stdout == expected.text + "\n"

    as_json = run(cli_model, "run", str(cli_model.bundle), PROMPT, *common, "--json")
    assert as_json.returncode == 0, as_json.stderr
    out = json.loads(as_json.stdout)
    assert out["text"] == expected.text and out["token_ids"] == expected.token_ids
    assert out["stats"]["prompt_tokens"] == expected.stats.prompt_tokens
    assert out["stats"]["stop_reason"] == "max_new_tokens"


def test_run_stop_string_and_verbose_stats(cli_model, reference):
    full = reference.new_session().generate(PROMPT, max_new_tokens=NEW, stop_token_ids=())
    stop = full.text[len(full.text) // 2 :][:2]  # a string the answer is known to contain
    expected = reference.new_session().generate(
        PROMPT, max_new_tokens=NEW, stop_token_ids=(), stop=[stop]
    )
    args = [str(cli_model.bundle), PROMPT, "-n", str(NEW), "--ignore-eos", "--no-chat-template"]
    proc = run(cli_model, "run", *args, "--stop", stop, "--stats")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected.text + "\n" and stop not in proc.stdout
    assert "stop_reason: stop_string" in proc.stderr.splitlines()
    assert f"prompt_tokens: {expected.stats.prompt_tokens}" in proc.stderr.splitlines()


def test_bare_tflite_needs_a_tokenizer(cli_model):
    import litegen

    bare = run(cli_model, "run", str(cli_model.tflite), PROMPT)
    assert "--tokenizer" in one_error_line(bare)

    expected = litegen.Generator(
        cli_model.tflite, num_threads=1, tokenizer=cli_model.tokenizer, weight_cache=False
    ).generate(PROMPT, max_new_tokens=NEW)
    args = [str(cli_model.tflite), PROMPT, "--tokenizer", str(cli_model.tokenizer)]
    proc = run(cli_model, "run", *args, "-n", str(NEW))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected.text + "\n"
    # No chat template in a bare model: --chat and chat say so.
    assert "no chat template" in one_error_line(run(cli_model, "run", *args, "--chat"))
    chat = run(cli_model, "chat", *args[:1], *args[2:], stdin="hi\n")
    assert "no chat template" in one_error_line(chat)


def test_errors_are_one_line_unless_debug(cli_model, tmp_path):
    missing = tmp_path / "missing.litegen"
    line = one_error_line(run(cli_model, "run", str(missing), PROMPT))
    assert str(missing) in line and "no such file" in line

    debug = run(cli_model, "--debug", "run", str(missing), PROMPT)
    assert debug.returncode != 0 and "Traceback" in debug.stderr

    bad_top_p = run(cli_model, "run", str(cli_model.bundle), PROMPT, "--top-p", "2")
    assert "top_p" in one_error_line(bad_top_p)

    not_a_model = tmp_path / "notes.litegen"
    not_a_model.write_text("hello")
    assert str(not_a_model) in one_error_line(run(cli_model, "run", str(not_a_model), PROMPT))

    no_file = run(cli_model, "run", str(cli_model.bundle), "-f", str(tmp_path / "nope.txt"))
    assert "nope.txt" in one_error_line(no_file)


def test_ctrl_c_stops_a_run(cli_model):
    """SIGINT while the text streams: the generation is cancelled, one line, status 130."""
    import signal

    args = [str(cli_model.bundle), PROMPT, "-n", "16000", "--ignore-eos", "--no-chat-template"]
    proc = subprocess.Popen(
        litegen_command("run", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_model.env(),
    )
    assert proc.stdout is not None and proc.stdout.read(1)  # the text has started
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err.decode() and "litegen: interrupted" in err.decode()
    assert b"prompt tokens" not in err  # no stats: the run did not finish
