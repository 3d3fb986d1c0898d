"""Rich records rebuilt from the 80-column layout equal the same messages printed plainly (--console_log_simple)."""

from __future__ import annotations

from kohya_wrap.logs.rich import Record, RecordJoiner, cell_len
from kohya_wrap.logs.stream import Splitter

from .conftest import FAILED, MAIN, SIMPLE


def records(path) -> list[Record]:
    found: list[Record] = []
    joiner = RecordJoiner(found.append)
    splitter = Splitter(lambda line: joiner.take(line), lambda bar: joiner.flush())
    splitter.feed(path.read_bytes().decode())
    splitter.end()
    joiner.flush()
    return found


def test_wrapped_messages_come_back_whole_as_the_simple_mode_prints_them():
    rich = {r.message() for r in records(MAIN / "stderr.log")}
    plain = set((SIMPLE / "stdout.log").read_text().splitlines())
    shared = [
        "load tokenizer from cache: /tmp/sdxl_run/tokenizers/openai_clip-vit-large-patch14",
        "load tokenizer from cache: /tmp/sdxl_run/tokenizers/laion_CLIP-ViT-bigG-14-laion2B-39B-b160k",
        "load StableDiffusion checkpoint: /tmp/models/sdxl_random_fp16.safetensors",
        "create LoRA network. base dim (rank): 4, alpha: 4.0",
        "neuron dropout: p=None, rank dropout: p=None, module dropout: p=None",
        "move vae and unet to cpu to save memory", "caching Text Encoder outputs with caching strategy.",
        "U-Net: <All keys matched successfully>", "text encoder 2: <All keys matched successfully>",
        "prompt: shape, a red circle on a blue background, simple flat illustration",
        "unet dtype: torch.bfloat16, device: cpu", "text_encoder [1] dtype: torch.float32, device: cpu",
    ]
    for message in shared:
        assert message in plain, message  # the fact the test relies on
        assert message in rich, message


def test_japanese_and_folded_words_join_without_spaces():
    rich = [r.message() for r in records(MAIN / "stderr.log")]
    assert "generating sample images at step / サンプル画像生成 ステップ: 3" in rich
    assert "Loading settings from /tmp/sdxl_run/training_args.toml..." in rich
    dump = next(m for m in rich if m.startswith("[Dataset 0]\n"))
    assert "\n    caption_dropout_every_n_epochs: 0\n" in dump
    assert '\n    image_dir: "/tmp/sdxl_run/train/3_shape"\n' in dump


def test_record_fields_and_blank_time_column():
    found = records(FAILED / "fail_bad_folder_name.stderr.log")
    first, no_data = found[0], next(r for r in found if r.level == "ERROR")
    assert (first.ts, first.level, first.source) == ("2026-11-21 08:21:44", "INFO", "strategy_base.py:61")
    assert no_data.ts is None and no_data.source == "train_network.py:576"
    assert no_data.message().startswith(
        "No data found. Please verify arguments (train_data_dir must be the parent of folders with images) / 画像")


def test_cell_len_counts_wide_characters_twice():
    assert cell_len("abc") == 3 and cell_len("学習開始") == 8 and cell_len("a：b") == 4
