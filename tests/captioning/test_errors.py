"""Clear errors: no or an incomplete model folder (before any child starts), malformed folders, a Python without
the package, Florence-2 on the pinned transformers, a captioning Python that does not exist."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kohya_wrap.captioning.compose import Style
from kohya_wrap.captioning.run import AutoRequest, CaptionerError, resolve_model, run_auto_captions
from kohya_wrap.errors import BackendError

from . import tiny_models


def run(root, captioner, model, python=None, events=None):
    request = AutoRequest(root=root, captioner=captioner, model_dir=model, style=Style(mode="replace"),
                          python=python, options={"device": "cpu"})
    return run_auto_captions(request, events.append if events is not None else None)


def test_missing_folder_says_what_to_put_there_and_how_to_get_it(colour_dataset, tmp_path):
    root, _ = colour_dataset
    events = []
    with pytest.raises(CaptionerError) as caught:
        run(root, "wd14", tmp_path / "nowhere", events=events)
    text = caught.value.render()
    assert f"No wd14 model folder at {tmp_path / 'nowhere'}" in text
    assert "model.onnx, selected_tags.csv" in text and "--allow-download" in text
    assert (f"huggingface-cli download SmilingWolf/wd-swinv2-tagger-v3 model.onnx selected_tags.csv "
            f"--local-dir {tmp_path / 'nowhere'}") in text
    assert events == [] and caught.value.exit_code == 2  # nothing was started


def test_incomplete_transformers_folder_lists_the_missing_files(colour_dataset, tmp_path):
    root, _ = colour_dataset
    folder = tmp_path / "blip"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(CaptionerError) as caught:
        run(root, "blip", folder)
    text = caught.value.render()
    assert "model.safetensors or model.safetensors.index.json or pytorch_model.bin" in text
    assert "preprocessor_config.json" in text and "Salesforce/blip-image-captioning-large" in text
    assert f"{folder} is not a complete blip model folder: model.safetensors or" in text  # config.json is there


def test_allow_download_plans_a_download_instead_of_failing(tmp_path):
    request = AutoRequest(root=tmp_path, captioner="wd14", model_dir=tmp_path / "m", allow_download=True)
    folder, download = resolve_model(request)
    assert folder == tmp_path / "m"
    assert download == {"repo": "SmilingWolf/wd-swinv2-tagger-v3", "files": ["model.onnx", "selected_tags.csv"]}


@pytest.mark.parametrize("damage, message", [
    ("header", "must start with the header tag_id,name,category,count"),
    ("count", "scores 12 tags but selected_tags.csv lists 3"),
    ("graph", "onnxruntime cannot load model.onnx"),
])
def test_malformed_tagger_folder(colour_dataset, tmp_path, damage, message):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    root, _ = colour_dataset
    folder = tiny_models.build_tagger(tmp_path / "tagger")
    if damage == "header":
        (folder / "selected_tags.csv").write_text("id,tag\n1,cat\n")
    elif damage == "count":
        (folder / "selected_tags.csv").write_text("tag_id,name,category,count\n1,a,0,1\n2,b,0,1\n3,c,0,1\n")
    else:
        (folder / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(CaptionerError, match=message) as caught:
        run(root, "wd14", folder)
    assert "huggingface-cli download" in caught.value.render()
    assert not list((root / "2_ohwx thing").glob("a_red.txt"))


def test_malformed_blip_folder(colour_dataset, blip_dir, tmp_path):
    root, _ = colour_dataset
    broken = tmp_path / "blip"
    broken.mkdir()
    for item in blip_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(CaptionerError, match="Cannot load a BLIP captioning model") as caught:
        run(root, "blip", broken)
    assert "huggingface-cli download Salesforce/blip-image-captioning-large" in caught.value.render()


def test_a_python_without_the_package_gets_the_install_command(colour_dataset, tagger_dir, tmp_path):
    root, _ = colour_dataset
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare = str(tmp_path / "bare" / "bin" / "python")
    with pytest.raises(CaptionerError, match="needs onnxruntime") as caught:
        run(root, "wd14", tagger_dir, python=bare)
    assert f"{bare} -m pip install onnxruntime" in caught.value.render()


def test_florence2_on_the_pinned_transformers_says_to_use_a_separate_python(colour_dataset, tmp_path):
    transformers = pytest.importorskip("transformers")
    if hasattr(transformers, "Florence2ForConditionalGeneration"):
        pytest.skip("this transformers has Florence-2")
    root, _ = colour_dataset
    folder = tmp_path / "florence"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json",
                 "tokenizer.json"):
        (folder / name).write_text("{}")
    with pytest.raises(CaptionerError, match="Florence-2 needs transformers >= 4.56") as caught:
        run(root, "florence2", folder)
    assert "--python" in caught.value.render() and "KOHYA_WRAP_CAPTION_PYTHON" in caught.value.render()


def test_a_captioning_python_that_does_not_exist(colour_dataset, tagger_dir, tmp_path):
    root, _ = colour_dataset
    with pytest.raises(BackendError, match="Cannot start the captioning Python"):
        run(root, "wd14", tagger_dir, python=str(tmp_path / "no-python"))
