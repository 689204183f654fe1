"""At a terminal the progress bar never shares a line with output or typed text:
none for text from arguments or typed at the terminal, none while output goes to
the terminal; elsewhere a transient one on stderr."""
import os
import pty
import select
import subprocess
import sys
import time

from test_cli import ENV

SPINNER_AND_BAR = ("━", "0/?", "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")


def run_at_terminal(args, stdin=b"", stdout_at_terminal=True, stdin_at_terminal=False):
    """Run nlpcli with stderr (and stdout, stdin if asked) on a pseudo-terminal:
    (exit code, what the terminal showed, stdout if it was a pipe)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in ENV.items() if k not in ("NO_COLOR", "TERM")}
    process = subprocess.Popen([sys.executable, "-m", "nlpcli", *map(str, args)], env={**env, "TERM": "xterm"},
                               stdin=slave if stdin_at_terminal else subprocess.PIPE,
                               stdout=slave if stdout_at_terminal else subprocess.PIPE, stderr=slave)
    os.close(slave)
    if stdin_at_terminal:
        os.write(master, stdin + b"\x04")  # typed lines, then Ctrl-D
    else:
        process.stdin.write(stdin)
        process.stdin.close()
    shown, deadline = b"", time.time() + 300
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    stdout = b"" if stdout_at_terminal else process.stdout.read()
    process.wait(timeout=60)
    os.close(master)
    return process.returncode, shown.decode(errors="replace"), stdout


def test_text_from_arguments_gets_no_spinner_before_its_output(toy_tasks_checkpoint):
    code, shown, _ = run_at_terminal(["classify-sentiment", "-c", toy_tasks_checkpoint, "--show-attention", "a good dog"])
    assert code == 0, shown
    assert not any(mark in shown for mark in SPINNER_AND_BAR) and "classifying" not in shown
    label_lines = [line for line in shown.split("\r\n") if "\t" in line]
    assert len(label_lines) == 1 and label_lines[0].startswith(("positive\t", "negative\t"))


def test_typed_text_gets_no_spinner_on_its_line(toy_checkpoint):
    code, shown, _ = run_at_terminal(["translate", "-c", toy_checkpoint], stdin=b"a man runs\n", stdin_at_terminal=True)
    assert code == 0, shown
    assert not any(mark in shown for mark in SPINNER_AND_BAR) and "translating" not in shown
    assert "a man runs\r\n" in shown and "ein mann rennt\r\n" in shown  # the echo of the typed line, then its translation


def test_output_to_the_terminal_gets_no_bar(toy_checkpoint):
    code, shown, _ = run_at_terminal(["translate", "-c", toy_checkpoint], stdin=b"a man runs\n" * 50)
    assert code == 0, shown
    assert "translating" not in shown and shown.split("\r\n")[:-1] == ["ein mann rennt"] * 50


def test_a_pipe_to_a_pipe_gets_a_transient_bar_on_stderr(toy_checkpoint):
    code, shown, stdout = run_at_terminal(["translate", "-c", toy_checkpoint, "--batch-size", "1"],
                                          stdin=b"a man runs\n" * 50, stdout_at_terminal=False)
    assert code == 0, shown
    assert "translating" in shown  # the bar was drawn on stderr ...
    assert "\x1b[2K" in shown.rsplit("translating", 1)[1]  # ... and erased at the end
    assert stdout == b"ein mann rennt\n" * 50
