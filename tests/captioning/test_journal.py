"""The resume journal: results survive a crash, a changed image is captioned again, a torn line is ignored."""

from __future__ import annotations

import os

import pytest

from kohya_wrap.captioning.journal import Journal
from kohya_wrap.captioning.run import AutoRequest, run_auto_captions
from kohya_wrap.errors import Interrupted


def test_results_count_only_while_the_image_is_unchanged(tmp_path):
    images = [tmp_path / f"{name}.png" for name in "abc"]
    for image in images:
        image.write_bytes(b"pixels")
    journal = Journal.for_run(tmp_path, "wd14", tmp_path / "model", {"threshold": 0.35})
    for image in images:
        journal.append(str(image), {"text": f"tag {image.stem}", "tags": [["tag", 0.9]]})
    with open(journal.path, "a") as handle:
        handle.write('{"image": "cut sh')  # a crash in the middle of a line
    images[1].write_bytes(b"other pixels")
    assert sorted(journal.load()) == [str(images[0]), str(images[2])]
    assert journal.load()[str(images[0])] == {"text": "tag a", "tags": [["tag", 0.9]]}
    other = Journal.for_run(tmp_path, "wd14", tmp_path / "model", {"threshold": 0.5})
    assert other.path != journal.path and other.load() == {}  # other options: other results
    journal.remove()
    assert not journal.path.exists()


def test_ctrl_c_stops_the_child_and_keeps_what_was_captioned(colour_dataset, tagger_dir):
    root, _ = colour_dataset
    pids = []

    def interrupt(event):
        if event["type"] == "started":
            pids.append(event["pid"])
        if event["type"] == "caption":
            raise KeyboardInterrupt

    request = AutoRequest(root=root, captioner="wd14", model_dir=tagger_dir)
    with pytest.raises(Interrupted, match="Interrupted after 1 of 4 images") as caught:
        run_auto_captions(request, interrupt)
    assert caught.value.exit_code == 130
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # the child is gone, not left running
    assert len(list((root / "2_ohwx thing").glob("*.txt"))) == 2  # b_green's own + the one captioned
    rest = run_auto_captions(request)
    assert (rest["captioned"], rest["skipped"]) == (3, 2)


def test_allowed_download_failing_offline_is_a_clear_error(colour_dataset, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    from kohya_wrap.captioning.run import CaptionerError

    root, _ = colour_dataset
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    request = AutoRequest(root=root, captioner="wd14", model_dir=tmp_path / "fresh", allow_download=True)
    with pytest.raises(CaptionerError, match="Downloading SmilingWolf/wd-swinv2-tagger-v3 into"):
        run_auto_captions(request)
