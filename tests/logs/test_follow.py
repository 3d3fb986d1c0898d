"""follow(): tails a growing file without losing its last bytes."""

from __future__ import annotations

from kohya_wrap.logs.follow import follow

from .conftest import MAIN


def test_follows_a_growing_log_until_told_to_stop(tmp_path):
    source = (MAIN / "stderr.log").read_bytes()
    pieces = [source[i:i + 3000] for i in range(0, len(source), 3000)]
    path = tmp_path / "train.log"
    state = {"written": 0, "sleeps": 0}

    def writer_sleep(seconds):  # each poll, the "trainer" appends one more piece
        state["sleeps"] += 1
        if state["written"] < len(pieces):
            with path.open("ab") as handle:
                handle.write(pieces[state["written"]])
            state["written"] += 1

    got = b"".join(follow(path, poll=0.01, stop=lambda: state["written"] == len(pieces), sleep=writer_sleep,
                          chunk_size=1000))
    assert got == source
    assert state["sleeps"] >= len(pieces)  # it waited for the file to appear and to grow


def test_a_rewritten_file_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "train.log"
    path.write_bytes(b"first run, long text\n")
    steps = iter([b"second\n"])

    def rewrite(seconds):
        path.write_bytes(next(steps, path.read_bytes()))

    stop_after = {"n": 0}

    def stop():
        stop_after["n"] += 1
        return stop_after["n"] > 3

    assert b"".join(follow(path, stop=stop, sleep=rewrite)) == b"first run, long text\nsecond\n"
