"""Hand-offs between the steps a new user takes: prepare -> check --preset -> train (dry run) -> job.toml re-run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from kohya_wrap.tomlcompat import loads
from tests.conftest import REPO
from tests.fake_model import write_fake_sdxl

EXAMPLE = REPO / "templates" / "example-dataset" / "3_shape"


@pytest.fixture
def raw(tmp_path) -> Path:
    """A flat folder of images with captions, as a user has them (one image wider than the rest)."""
    from PIL import Image

    folder = tmp_path / "raw"
    folder.mkdir()
    for image in sorted(EXAMPLE.glob("*.png")):
        (folder / image.name).write_bytes(image.read_bytes())
        (folder / image.with_suffix(".txt").name).write_text(image.with_suffix(".txt").read_text().replace(
            "shape, ", ""))
    Image.new("RGB", (900, 200), "red").save(folder / "wide.png")
    (folder / "wide.txt").write_text("a red banner")
    return folder


@pytest.fixture
def prepared(cli, raw, tmp_path) -> Path:
    result = cli("data", "prepare", raw, "--out", tmp_path / "data", "--token", "shp", "--class", "shape")
    assert result.exit_code == 0, result.output
    return tmp_path / "data"


def test_prepare_prints_the_exact_next_commands_and_they_run(cli, raw, tmp_path):
    out = tmp_path / "my data"
    result = cli("data", "prepare", raw, "--out", out, "--token", "shp", "--class", "shape")
    assert result.exit_code == 0, result.output
    steps = [line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith(("Next: ", "Then: "))]
    # the captions lack the trigger: the first step adds it, on the prepared root itself
    assert steps[0] == f"kohya-wrap data captions {shlex.quote(str(out))} add-trigger shp"
    assert steps[1] == f"kohya-wrap data check {shlex.quote(str(out))} --preset sdxl-style"
    assert steps[2].startswith(f"kohya-wrap train sdxl-style --dataset {shlex.quote(str(out))} --model ")
    for step in steps[:2]:
        done = cli(*shlex.split(step)[1:])
        assert done.exit_code == 0, (step, done.output)
    caption = next((out / "img").glob("*/00_red_circle.txt")).read_text()
    assert caption.startswith("shp, ")


def test_prepared_root_is_accepted_by_scan_check_preview_and_captions(cli, prepared):
    scan = json.loads(cli("data", "scan", prepared, "--json").output)
    assert [s["images"] for s in scan["subsets"]] == [7]
    assert any(f["code"] == "prepared-root" for f in scan["findings"])
    check = cli("data", "check", prepared)
    assert check.exit_code == 0 and "training images come from img/" in check.output
    preview = cli("data", "preview", prepared, "--steps", "10")
    assert preview.exit_code == 0 and "images 7" in preview.output
    edited = cli("data", "captions", prepared, "add-trigger", "shp")
    assert edited.exit_code == 0 and "Changed 7 caption files" in edited.output


def test_prepared_root_brings_its_reg_folder(cli, raw, tmp_path):
    reg = tmp_path / "reg-src"
    reg.mkdir()
    for image in sorted(EXAMPLE.glob("*.png"))[:2]:
        (reg / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "data"
    assert cli("data", "prepare", raw, "--out", out, "--token", "shp", "--class", "shape", "--reg", reg).exit_code == 0
    scan = json.loads(cli("data", "scan", out, "--json").output)
    assert [(s["is_reg"], s["images"]) for s in scan["subsets"]] == [(False, 7), (True, 2)]
    # the caption verbs never touch the regularisation images
    assert "Would change 7 caption files" in cli("data", "captions", out, "add-trigger", "shp", "--dry-run").output


def test_train_takes_the_prepared_root(cli, prepared, model_file):
    result = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run")
    assert result.exit_code == 0, result.output
    job_dir = Path(result.output.split("Job folder: ")[1].splitlines()[0])
    dataset = (job_dir / "dataset.toml").read_text()
    assert f"{prepared}/img/1_shp shape" in dataset


def test_check_with_a_preset_judges_as_train_does(cli, prepared):
    long = next((prepared / "img").glob("*/00_red_circle.txt"))
    long.write_text(", ".join(f"tag{i}" for i in range(40)))  # about 150 tokens
    wide = json.loads(cli("data", "check", prepared, "--token-limit", "225", "--json").output)
    judged = json.loads(cli("data", "check", prepared, "--preset", "sdxl-style", "--json").output)
    assert judged["settings"]["token_limit"] == 75 and judged["settings"]["max_bucket_reso"] == 2048
    assert judged["settings"]["resolution"] == [1024, 1024] and judged["settings"]["preset"] == "sdxl-style"

    def count(result, code):
        return sum(f["code"] == code for f in result["findings"])

    # the preset trains with sd-scripts' 75 tokens (it sets no max_token_length): the long caption is cut
    assert count(judged, "caption-too-long") == 1 and count(wide, "caption-too-long") == 0
    # its min_bucket_reso 512 puts every image below the smallest bucket; the 256 default only the banner
    assert count(judged, "below-min-bucket") == 7 and count(wide, "below-min-bucket") == 1
    lowered = json.loads(cli("data", "check", prepared, "--preset", "sdxl-style", "dataset.min_bucket_reso=128",
                             "dataset.resolution=256", "--json").output)
    assert lowered["settings"]["min_bucket_reso"] == 128 and count(lowered, "below-min-bucket") == 0
    typed = json.loads(cli("data", "check", prepared, "--preset", "sdxl-style", "--token-limit", "225",
                           "--json").output)
    assert typed["settings"]["token_limit"] == 225  # an option typed on the command line still wins
    assert "Judged with preset sdxl-style: resolution 1024x1024, buckets 512-2048" in \
        cli("data", "check", prepared, "--preset", "sdxl-style").output


def test_preview_with_a_preset_counts_the_steps_train_counts(cli, prepared, model_file):
    preview = json.loads(cli("data", "preview", prepared, "--preset", "sdxl-style", "training.max_train_steps=40",
                             "--json").output)
    trained = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "training.max_train_steps=40",
                  "--dry-run")
    assert preview["settings"]["batch_size"] == 2
    assert f"this run = {preview['total_steps']} steps" in trained.output
    assert preview["total_steps"] == 40 and preview["batches_per_epoch"] == 4


def test_overrides_without_a_preset_are_refused(cli, prepared):
    result = cli("data", "check", prepared, "dataset.resolution=768")
    assert result.exit_code == 2 and "add --preset P" in result.output


@pytest.mark.parametrize("overrides, message", [
    (["optimizer.optimizer_type=AdamW8bitt"], "did you mean 'AdamW8bit'?"),
    (["optimizer.lr_scheduler=cosine_with_restart"], "did you mean 'cosine_with_restarts'?"),
    (["optimizer.optimizer_type=adamw"], None),  # sd-scripts lower-cases its own names
    (["optimizer.optimizer_type=RAdam"], None),  # a torch.optim class
    (["optimizer.optimizer_type=came_pytorch.CAME"], None),  # module.Class is imported as given
    (["optimizer.lr_scheduler=adafactor:1e-4"], "needs optimizer_type = 'Adafactor'"),
])
def test_optimizer_and_scheduler_names_are_checked(cli, overrides, message):
    result = cli("config", "validate", "sdxl-style", *overrides)
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_the_choice_table_is_what_sd_scripts_names():
    from kohya_wrap.config.choices import load_choices

    table = load_choices()
    assert table["commit"].startswith("48d368fa")
    assert {"AdamW8bit", "Prodigy", "Adafactor", "DAdaptAdam", "AdamWScheduleFree"} <= set(table["optimizer_type"]["named"])
    assert "cosine_with_restarts" in table["lr_scheduler"]["names"]


def test_model_file_must_be_an_sdxl_checkpoint(cli, tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    text = tmp_path / "notes.safetensors"
    text.write_text("not a model")
    sd15 = write_fake_sdxl(tmp_path / "sd15.safetensors",
                           {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": [49408, 768],
                            "model.diffusion_model.input_blocks.0.0.weight": [320, 4, 3, 3]})
    lora = write_fake_sdxl(tmp_path / "lora.safetensors", {"lora_unet_down_blocks_0.lora_down.weight": [4, 320]})
    cut = write_fake_sdxl(tmp_path / "cut.safetensors")
    with open(cut, "r+b") as handle:
        handle.truncate(cut.stat().st_size - 1000)
    no_index = tmp_path / "folder"
    no_index.mkdir()
    cases = {empty: "is empty (0 bytes)", text: "is not a safetensors file", sd15: "Stable Diffusion 1.x",
             lora: "a LoRA (kohya format), not a base model", cut: "is truncated", no_index: "without model_index.json"}
    for path, message in cases.items():
        result = cli("config", "validate", "sdxl-style", "--model", path)
        assert result.exit_code == 2 and message in result.output, (path, result.output)
    good = cli("config", "validate", "sdxl-style", "--model", write_fake_sdxl(tmp_path / "base.safetensors"))
    assert good.exit_code == 0, good.output


def test_a_diffusers_sdxl_folder_is_a_model(cli, tmp_path):
    folder = tmp_path / "sdxl-diffusers"
    for part in ("unet", "text_encoder", "text_encoder_2", "vae"):
        (folder / part).mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert cli("config", "validate", "sdxl-style", "--model", folder).exit_code == 0
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    result = cli("config", "validate", "sdxl-style", "--model", folder)
    assert result.exit_code == 2 and "not an SDXL pipeline" in result.output


def test_dry_run_shows_where_the_lora_goes_disk_time_cost_and_vram(cli, prepared, model_file):
    result = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run", "--gpu", "4090")
    assert result.exit_code == 0, result.output
    job_dir = Path(result.output.split("Job folder: ")[1].splitlines()[0])
    assert f"LoRA will be written to: {job_dir}/output/sdxl-style.safetensors" in result.output
    disk = next(line for line in result.output.splitlines() if line.startswith("Disk: about "))
    assert "x LoRA file of" in disk and "x saved state of" in disk and "free there" in disk
    assert "Time: " in result.output and "basis: " in result.output
    predicted = next(line for line in result.output.splitlines() if line.startswith("Predicted on "))
    assert "RTX 4090" in predicted and "peak VRAM" in predicted and "USD" in predicted
    assert "basis: VRAM" in result.output and "TFLOPS" in result.output


def test_presets_keep_the_last_states_and_the_disk_says_so(cli, prepared, model_file):
    from kohya_wrap.job.folder import read_args

    result = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run")
    job_dir = Path(result.output.split("Job folder: ")[1].splitlines()[0])
    args = read_args(job_dir)
    assert args["save_last_n_steps_state"] == args["save_every_n_steps"] == 500
    kept_all = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run",
                   "~saving.save_last_n_steps_state", "--name", "all-states")

    def states(output: str) -> int:
        disk = next(line for line in output.splitlines() if line.startswith("Disk: about "))
        return int(disk.split(" x saved state")[0].rsplit(" ", 1)[-1])

    # steps 500..3000 each save a state (the last step too), plus the final one; keeping 500 steps leaves 2 + 1
    assert (states(result.output), states(kept_all.output)) == (3, 7)


def test_job_toml_reruns_from_its_folder_alone(cli, prepared, model_file):
    first = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run")
    job_dir = Path(first.output.split("Job folder: ")[1].splitlines()[0])
    again = cli("train", job_dir / "job.toml", "--dry-run")
    assert again.exit_code == 0, again.output
    second = Path(again.output.split("Job folder: ")[1].splitlines()[0])
    assert second != job_dir and job_dir.is_dir()  # the folder it came from stays
    assert loads((second / "dataset.toml").read_text()) == loads((job_dir / "dataset.toml").read_text())
    assert "no base model was given" not in again.output


def test_every_preset_has_a_sample_block_fed_by_the_captions(cli, prepared, model_file):
    from kohya_wrap.presets.catalog import find_preset, read_preset, shipped_names

    for name in shipped_names():
        sample = read_preset(find_preset(name))["sample"]
        assert sample["sample_prompts"]["from_captions"] >= 1 and "sample_every_n_steps" not in sample
    result = cli("train", "sdxl-style", "--dataset", prepared, "--model", model_file, "--dry-run",
                 "sample.sample_every_n_steps=100")
    assert result.exit_code == 0, result.output
    job_dir = Path(result.output.split("Job folder: ")[1].splitlines()[0])
    prompts = (job_dir / "sample_prompts.txt").read_text().splitlines()
    captions = {p.read_text() for p in (prepared / "img").glob("*/*.txt")}
    assert len(prompts) == 3 and all(p.split(" --w ")[0] in captions for p in prompts)
    assert all("--w 1024 --h 1024" in p and "--s 28 --l 7" in p for p in prompts)
    assert len({p.split("--d ")[1].split()[0] for p in prompts}) == 3  # a fixed seed per prompt
    assert "sample_prompts = " in (job_dir / "args.toml").read_text()
    assert "from_captions = 3" in (job_dir / "job.toml").read_text()  # the re-run takes them again
