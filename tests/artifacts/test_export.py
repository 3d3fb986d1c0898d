"""Export to ComfyUI, A1111 and Forge: the copy, the sidecars, the workflow, and never overwriting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kohya_wrap.artifacts import header as st
from kohya_wrap.artifacts.export import export_lora, lora_folder, place_file
from kohya_wrap.artifacts.resolve import final_lora, resolve_lora
from kohya_wrap.artifacts.sidecars import A1111_FIELDS
from kohya_wrap.errors import KohyaWrapError
from tests.artifacts.conftest import lora_tensors, write_lora


def _actions(result) -> dict[str, str]:
    return {Path(f["path"]).name: f["action"] for f in result.files}


@pytest.mark.parametrize("tool, given, expected", [
    ("comfyui", "ComfyUI", "ComfyUI/models/loras"), ("comfyui", "ComfyUI/models", "ComfyUI/models/loras"),
    ("a1111", "webui", "webui/models/Lora"), ("forge", "forge/models/Lora", "forge/models/Lora"),
    ("comfyui", "x/loras", "x/loras")])
def test_lora_folder_of_each_tool(tmp_path, tool, given, expected):
    assert lora_folder(tool, tmp_path / given) == tmp_path / expected


def test_a1111_export_copies_and_writes_sidecar_and_preview(job, tmp_path):
    result = export_lora(str(job), "a1111", tmp_path / "webui", weight=0.6)
    folder = tmp_path / "webui" / "models" / "Lora"
    assert _actions(result) == {"shape_lora.safetensors": "written", "shape_lora.json": "written",
                                "shape_lora.preview.png": "written"}
    assert (folder / "shape_lora.safetensors").read_bytes() == (job / "output" / "shape_lora.safetensors").read_bytes()
    sidecar = json.loads((folder / "shape_lora.json").read_text())
    assert list(sidecar) == list(A1111_FIELDS)
    assert sidecar["activation text"] == "shape" and sidecar["preferred weight"] == 0.6
    assert sidecar["sd version"] == "SDXL"
    assert "job 20261201-100000-shape-ab12" in sidecar["notes"] and "rank 4" in sidecar["notes"]
    assert "Validated 2026-12-01" in sidecar["notes"]
    # the validation image nearest the preferred weight (0.5 of 0.5 and 1.0)
    run = job / "validation" / "20261201-110000-aaaa"
    assert (folder / "shape_lora.preview.png").read_bytes() == (run / "images" / "w0.5.png").read_bytes()
    assert result.keys["ok"] and result.warnings == []


def test_comfyui_export_writes_a_workflow_with_trigger_and_strength(job, tmp_path):
    result = export_lora(str(job), "comfyui", tmp_path / "ComfyUI", name="shapes v1", weight=0.8)
    folder = tmp_path / "ComfyUI" / "models" / "loras"
    assert (folder / "shapes v1.safetensors").is_file()
    flow = json.loads((folder / "shapes v1.workflow.json").read_text())
    types = [node["class_type"] for node in flow.values()]
    assert types == ["CheckpointLoaderSimple", "LoraLoader", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage",
                     "KSampler", "VAEDecode", "SaveImage"]
    lora = flow["2"]["inputs"]
    assert lora["lora_name"] == "shapes v1.safetensors" and lora["strength_model"] == lora["strength_clip"] == 0.8
    assert flow["1"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    # prompt and sampling are those of the validation image the preview shows
    assert flow["3"]["inputs"]["text"] == "shape, a red circle" and flow["4"]["inputs"]["text"] == "blurry"
    assert {k: flow["6"]["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler")} == \
        {"seed": 7, "steps": 20, "cfg": 6.0, "sampler_name": "dpmpp_2m", "scheduler": "karras"}
    assert (flow["5"]["inputs"]["width"], flow["5"]["inputs"]["height"]) == (832, 1216)
    outputs = {"CheckpointLoaderSimple": 3, "LoraLoader": 2, "CLIPTextEncode": 1, "EmptyLatentImage": 1,
               "KSampler": 1, "VAEDecode": 1}
    for node in flow.values():  # every link points at an existing node's existing output
        for value in node["inputs"].values():
            if isinstance(value, list):
                source = flow[value[0]]
                assert value[1] < outputs[source["class_type"]]
    assert "shapes v1.preview.png" in _actions(result)


def test_exporting_again_changes_nothing(job, tmp_path):
    export_lora(str(job), "forge", tmp_path / "forge")
    again = export_lora(str(job), "forge", tmp_path / "forge")
    assert set(_actions(again).values()) == {"unchanged"}


def test_a_different_file_of_the_same_name_is_never_overwritten(job, tmp_path):
    folder = tmp_path / "webui" / "models" / "Lora"
    theirs = write_lora(folder / "shape_lora.safetensors", lora_tensors(seed=9))
    before = theirs.read_bytes()
    with pytest.raises(KohyaWrapError, match="already exists and is a different file") as caught:
        export_lora(str(job), "a1111", tmp_path / "webui")
    assert "--name" in caught.value.hint
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["shape_lora.safetensors"]  # no temp file left behind


def test_place_file_refuses_and_cleans_up(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"theirs")
    temp = tmp_path / ".t.partial"
    temp.write_bytes(b"ours")
    with pytest.raises(KohyaWrapError):
        place_file(temp, target)
    assert target.read_bytes() == b"theirs" and not temp.exists()


def test_a_sidecar_the_user_edited_is_kept(job, tmp_path):
    folder = tmp_path / "webui" / "models" / "Lora"
    folder.mkdir(parents=True)
    (folder / "shape_lora.json").write_text('{"activation text": "my words"}')
    result = export_lora(str(job), "a1111", tmp_path / "webui")
    assert _actions(result)["shape_lora.json"] == "kept existing"
    assert json.loads((folder / "shape_lora.json").read_text()) == {"activation text": "my words"}


def test_metadata_rewrite_keeps_tensor_bytes_and_training_tags(job, tmp_path):
    source = job / "output" / "shape_lora.safetensors"
    before = source.read_bytes()
    export_lora(str(job), "comfyui", tmp_path / "c", name="shape-final", rewrite_metadata=True, trigger=["ohwx"])
    copy = tmp_path / "c" / "models" / "loras" / "shape-final.safetensors"
    meta = st.metadata(copy)
    assert meta["ss_output_name"] == "shape-final" and meta["modelspec.title"] == "shape-final"
    assert meta["modelspec.trigger_phrase"] == "ohwx"
    assert json.loads(meta["ss_tag_frequency"]) == {"3_shape": {"shape": 3}}  # real training counts untouched
    assert st.data_sha256(copy) == st.data_sha256(source) and source.read_bytes() == before


def test_without_validation_the_workflow_prompts_the_trigger_word(job, tmp_path):
    import shutil

    shutil.rmtree(job / "validation")
    export_lora(str(job), "comfyui", tmp_path / "c", trigger=["ohwx", "shape"])
    flow = json.loads((tmp_path / "c" / "models" / "loras" / "shape_lora.workflow.json").read_text())
    assert flow["3"]["inputs"]["text"] == "ohwx, shape" and flow["6"]["inputs"]["steps"] == 25


def test_trigger_words_go_into_tag_counts_only_when_there_are_none(tmp_path):
    lora = write_lora(tmp_path / "plain.safetensors", metadata={"ss_network_module": "networks.lora"})
    export_lora(str(lora), "a1111", tmp_path / "w", rewrite_metadata=True, trigger=["zkx"], preview=False)
    meta = st.metadata(tmp_path / "w" / "models" / "Lora" / "plain.safetensors")
    assert json.loads(meta["ss_tag_frequency"]) == {"trigger words": {"zkx": 1}}


def test_an_intermediate_save_exports_with_a_warning(job, tmp_path):
    result = export_lora(str(job / "output" / "shape_lora-step00000002.safetensors"), "a1111", tmp_path / "w")
    assert any("intermediate save" in w for w in result.warnings)
    assert any("no preview" in w for w in result.warnings)  # the validation run rendered the final file only


def test_export_from_the_cli(cli, job, tmp_path):
    result = cli("export", job, "--to", "comfyui", "--dir", tmp_path / "ComfyUI", "--weight", "0.7")
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "keys:" in result.output
    result = cli("export", job, "--to", "comfyui", "--dir", tmp_path / "ComfyUI", "--weight", "0.7", "--json")
    data = json.loads(result.stdout)
    assert {f["action"] for f in data["files"]} == {"unchanged"}
    result = cli("export", job, "--to", "comfyui", "--dir", tmp_path / "ComfyUI", "--weight", "0.9")
    assert "kept existing" in result.output and "differs from what this export writes" in result.output
    result = cli("export", job)
    assert result.exit_code == 2 and "--to and --dir" in result.output


def test_resolving_jobs_and_files(job, tmp_path):
    assert final_lora(job).path.name == "shape_lora.safetensors" and final_lora(job).final
    (job / "output" / "shape_lora.safetensors").unlink()
    newest = final_lora(job)
    assert newest.path.name == "shape_lora-step00000002.safetensors" and not newest.final
    lora = resolve_lora(job / "output" / "shape_lora-step00000002.safetensors")
    assert lora.job_dir == job.resolve()
    (tmp_path / "plain").mkdir()
    with pytest.raises(KohyaWrapError, match="not a job folder"):
        resolve_lora(tmp_path / "plain")
    with pytest.raises(KohyaWrapError, match="No LoRA file or job folder") as caught:
        resolve_lora(tmp_path / "missing")
    assert "job ids" in caught.value.hint
    with pytest.raises(KohyaWrapError, match="not a .safetensors file"):
        resolve_lora(job / "args.toml")
    for old in (job / "output").iterdir():
        old.unlink()
    with pytest.raises(KohyaWrapError, match="has no LoRA file"):
        resolve_lora(job)
