"""-o never destroys anything; a full disk and many processes at once end cleanly."""
import signal
import subprocess
import sys
import time

import pytest

from nlpcli.errors import InputError
from nlpcli.textio import OutputWriter
from test_cli import ENV, nlpcli


def test_a_file_appears_only_when_the_run_ends_well(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("earlier good output\n")
    out.chmod(0o640)
    with OutputWriter(str(out)) as writer:
        writer.write("new")
        writer.flush()
        assert out.read_text() == "earlier good output\n"  # still the old file while the run goes on
    assert out.read_text() == "new\n" and (out.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_run_keeps_the_earlier_file_and_names_the_partial_one(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("earlier good output\n")
    with pytest.raises(InputError) as failure:
        with OutputWriter(str(out)) as writer:
            writer.write("finished record")
            writer.flush()
            raise InputError("in.txt, line 2: invalid JSON")
    [partial] = tmp_path.glob("out.txt.*.partial")
    assert out.read_text() == "earlier good output\n" and partial.read_text() == "finished record\n"
    assert failure.value.__notes__ == [f"the output finished before it is in {partial} (out.txt was left as it was)"]


def test_a_run_that_fails_before_any_output_leaves_no_partial_file(tmp_path):
    with pytest.raises(InputError):
        with OutputWriter(str(tmp_path / "out.txt")):
            raise InputError("bad")
    assert list(tmp_path.iterdir()) == []


def test_writing_through_a_symlink_replaces_its_target(tmp_path):
    target, link = tmp_path / "real.txt", tmp_path / "link.txt"
    target.write_text("old\n")
    link.symlink_to(target)
    with OutputWriter(str(link)) as writer:
        writer.write("new")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_output_over_the_input_is_refused_and_the_input_kept(toy_checkpoint, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a man runs\n")
    alias = tmp_path / "alias.txt"
    alias.symlink_to(source)
    for output in (source, alias):
        result = nlpcli("translate", "-c", toy_checkpoint, "-i", source, "-o", output)
        assert result.returncode == 1
        assert result.stderr.decode() == f"nlpcli: error: -o {output} is the input file; write the output to another file\n"
    assert source.read_text() == "a man runs\n"


def test_bad_input_midway_keeps_the_earlier_output_and_the_finished_records(toy_tasks_checkpoint, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.txt"
    source.write_text('{"text": "a good dog"}\n' * 20 + "not json\n")
    out.write_text("earlier good output\n")
    result = nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, "--input-format", "jsonl", "--batch-size", "1",
                    "-i", source, "-o", out)
    [partial] = tmp_path.glob("out.txt.*.partial")
    assert result.returncode == 1
    assert result.stderr.decode() == (f"nlpcli: error: {source}, line 21: invalid JSON (Expecting value at column 1); "
                                      f"the output finished before it is in {partial} (out.txt was left as it was)\n")
    assert out.read_text() == "earlier good output\n"
    assert len(partial.read_text().splitlines()) == 16  # the first chunk (16 x batch size), whole


def test_ctrl_c_keeps_the_earlier_file_and_the_finished_records_under_the_name_it_gives(toy_checkpoint, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("earlier good output\n")
    process = subprocess.Popen([sys.executable, "-m", "nlpcli", "translate", "-c", str(toy_checkpoint), "--beam", "1",
                                "--batch-size", "8", "-o", str(out)], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=ENV, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    process.stdin.write(b"a man runs\n" * 200)
    process.stdin.flush()  # stdin stays open: the first chunk is written, then nlpcli waits for more
    deadline = time.time() + 120
    while not any(p.stat().st_size for p in tmp_path.glob("out.txt.*.partial")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=60)
    [partial] = tmp_path.glob("out.txt.*.partial")
    assert process.returncode == 130
    assert error.decode() == f"nlpcli: error: interrupted; the output finished before it is in {partial} (out.txt was left as it was)\n"
    assert out.read_text() == "earlier good output\n"
    assert partial.read_text() == "ein mann rennt\n" * 128


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_exit_1(toy_checkpoint, tmp_path):
    to_file = nlpcli("translate", "-c", toy_checkpoint, "-o", "/dev/full", stdin="a man runs\n")
    assert to_file.returncode == 1
    assert to_file.stderr.decode() == "nlpcli: error: cannot write /dev/full: No space left on device\n"
    with open("/dev/full", "wb") as full:
        to_stdout = subprocess.run([sys.executable, "-m", "nlpcli", "translate", "-c", str(toy_checkpoint)],
                                   input=b"a man runs\n", stdout=full, stderr=subprocess.PIPE, env=ENV, timeout=300)
        report = subprocess.run([sys.executable, "-m", "nlpcli", "evaluate", "summarize", "--hyp", "/etc/hostname",
                                 "--ref", "/etc/hostname"], stdout=full, stderr=subprocess.PIPE, env=ENV, timeout=300)
    assert to_stdout.returncode == 1
    assert to_stdout.stderr.decode() == "nlpcli: error: cannot write <stdout>: No space left on device\n"
    assert report.returncode == 1
    assert report.stderr.decode() == "nlpcli: error: cannot write the output: No space left on device\n"


def test_eight_commands_at_once_on_one_checkpoint_all_finish_correctly(toy_checkpoint, tmp_path):
    words = ["a man runs", "a cat sleeps", "the dog eats bread", "a small house", "a woman sees a ball",
             "the red cat", "a big dog runs", "the blue house"]
    shared = tmp_path / "shared.txt"  # all eight write the same -o file too: whichever ends last wins, whole
    runs = []
    for i, sentence in enumerate(words):
        source = tmp_path / f"in{i}.txt"
        source.write_text(f"{sentence}\n" * 40)
        command = [sys.executable, "-m", "nlpcli", "translate", "-c", str(toy_checkpoint), "--beam", "2", "-i", str(source)]
        runs.append((subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV),
                     subprocess.Popen(command + ["-o", str(shared)], stderr=subprocess.PIPE, env=ENV)))
    expected = [" ".join(__import__("conftest").LEXICON[w] for w in s.split()) for s in words]
    for (to_stdout, to_shared), translation in zip(runs, expected):
        out, error = to_stdout.communicate(timeout=300)
        assert to_stdout.returncode == 0, error
        assert out.decode() == f"{translation}\n" * 40
        assert to_shared.wait(timeout=300) == 0
    assert shared.read_text() in {f"{t}\n" * 40 for t in expected}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("shared")] == ["shared.txt"]
