"""Tiny captioners built offline for tests and benchmarks: an ONNX WD14-style tagger and random-initialised BLIPs.

Run as a script (`python tiny_models.py florence2 FOLDER`) to build the Florence-2 one inside another Python:
it needs transformers >= 4.56, newer than the one the tests (and sd-scripts) use.

The tagger's scores are a known function of the image, so tests can predict its tags exactly:
it averages each channel over the picture (as the model sees it: BGR, 0-255, padded white, resized) and
scores tag t as sigmoid(mean . W[:, t] + b[t]).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

# (name, category, weights on the B, G, R channel means, bias); category 9 rating, 0 general, 4 character
TAGGER_TAGS = [
    ("general", "9", (0, 0, 0), 9.0),  # ratings score high on purpose: they must never be written
    ("sensitive", "9", (0, 0, 0), 8.0),
    ("questionable", "9", (0, 0, 0), 7.0),
    ("explicit", "9", (0, 0, 0), 6.0),
    ("blue_theme", "0", (1 / 8, 0, 0), -24.0),  # B mean above 192
    ("green_theme", "0", (0, 1 / 8, 0), -24.0),
    ("red_theme", "0", (0, 0, 1 / 8), -24.0),  # R mean above 192: proves the BGR order
    ("light_background", "0", (0, 1 / 8, 0), -10.0),  # G mean above 80: white padding around a red image
    ("^_^", "0", (0, 0, 0), 3.0),  # always (0.95); 3 characters: keeps its underscore
    ("simple_background", "0", (0, 0, 0), 1.0),  # always (0.73)
    ("faint_tag", "0", (0, 0, 0), -2.0),  # 0.12: below the default threshold
    ("tiny_character_(series)", "4", (0, 0, 0), 0.4),  # 0.60: kept at 0.35, dropped at 0.9
]
TAGGER_SIZE = 40


def build_tagger(folder: Path, size: int = TAGGER_SIZE, tags=TAGGER_TAGS, batch: int | str = "N") -> Path:
    """model.onnx (input [batch, size, size, 3] float32) + selected_tags.csv, the SmilingWolf layout."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([list(t[2]) for t in tags], dtype=np.float32).T  # [3, tags]
    bias = np.array([t[3] for t in tags], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["means"], axes=[1, 2], keepdims=0),
         helper.make_node("MatMul", ["means", "W"], ["logits0"]),
         helper.make_node("Add", ["logits0", "b"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["scores"])],
        "tiny_tagger",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, size, size, 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, len(tags)])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by older onnxruntime releases too
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    with open(folder / "selected_tags.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tag_id", "name", "category", "count"])
        for index, (name, category, _, _) in enumerate(tags):
            writer.writerow([1000 + index, name, category, 100])
    return folder


WORDS = "a an the red blue green cat dog tree car sky house on of with in small big bright dark".split()


def build_blip(folder: Path, seed: int = 0, hidden: int = 32, layers: int = 2, image_size: int = 32) -> Path:
    """A random-initialised BlipForConditionalGeneration + BlipProcessor (BERT tokenizer from a tiny vocab)."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab-source.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]) + "\n")
    tokenizer = BertTokenizer(str(vocab), bos_token="[DEC]")
    vocab.unlink()
    size = {"num_attention_heads": 4, "hidden_size": hidden, "intermediate_size": hidden * 2,
            "num_hidden_layers": layers}
    config = BlipConfig(
        vision_config={**size, "image_size": image_size, "patch_size": 8},
        text_config={**size, "vocab_size": len(tokenizer), "max_position_embeddings": 128,
                     "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        projection_dim=hidden)
    torch.manual_seed(seed)
    BlipForConditionalGeneration(config).eval().save_pretrained(folder)
    processor = BlipProcessor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer)
    processor.save_pretrained(folder)
    return folder


def build_blip2(folder: Path, seed: int = 0, hidden: int = 32, image_size: int = 32) -> Path:
    """A random-initialised Blip2ForConditionalGeneration (OPT text model) + Blip2Processor (byte-level BPE)."""
    import torch
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor, GPT2Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{c: 3 + i for i, c in enumerate(letters)}}
    vocab.update({"\u0120" + c: 3 + len(letters) + i for i, c in enumerate(letters)})  # "Ġx": x after a space
    (folder / "vocab-source.json").write_text(json.dumps(vocab))
    (folder / "merges-source.txt").write_text("#version: 0.2\n")
    tokenizer = GPT2Tokenizer(str(folder / "vocab-source.json"), str(folder / "merges-source.txt"),
                              bos_token="</s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    for name in ("vocab-source.json", "merges-source.txt"):
        (folder / name).unlink()
    queries = 4
    config = Blip2Config(
        vision_config={"hidden_size": hidden, "intermediate_size": hidden * 2, "num_hidden_layers": 1,
                       "num_attention_heads": 4, "image_size": image_size, "patch_size": 8},
        qformer_config={"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": hidden * 2,
                        "num_hidden_layers": 1, "num_attention_heads": 4, "encoder_hidden_size": hidden},
        text_config={"model_type": "opt", "vocab_size": len(tokenizer), "hidden_size": hidden, "ffn_dim": hidden * 2,
                     "num_hidden_layers": 1, "num_attention_heads": 4, "word_embed_proj_dim": hidden,
                     "max_position_embeddings": 128, "bos_token_id": 1, "eos_token_id": 1, "pad_token_id": 0},
        num_query_tokens=queries, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(seed)
    Blip2ForConditionalGeneration(config).eval().save_pretrained(folder)
    processor = Blip2Processor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer,
                               num_query_tokens=queries)
    processor.save_pretrained(folder)
    return folder


def build_florence2(folder: Path, seed: int = 0) -> Path:
    """A random-initialised Florence2ForConditionalGeneration (2-stage DaViT, 1-layer BART) + its processor."""
    import torch
    import transformers as tf

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for prefix in ("", "\u0120"):
        vocab.update({prefix + c: len(vocab) + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")})
    vocab.update({".": len(vocab), "<image>": len(vocab) + 1})
    tokenizer = tf.BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"})
    vision = tf.Florence2VisionConfig(depths=(1, 1), patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                                      patch_prenorm=(False, True), embed_dim=(16, 32), num_heads=(2, 4),
                                      num_groups=(2, 4), window_size=2, projection_dim=32, drop_path_rate=0.0)
    text = tf.BartConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                         max_position_embeddings=128, bos_token_id=0, pad_token_id=1, eos_token_id=2,
                         decoder_start_token_id=2, forced_bos_token_id=0)
    torch.manual_seed(seed)
    config = tf.Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)
    tf.Florence2ForConditionalGeneration(config).eval().save_pretrained(folder)
    # 32 px in, strides 4 then 2: 4x4 patches, plus the pooled token the projector adds
    images = tf.CLIPImageProcessor(size={"height": 32, "width": 32}, do_center_crop=False, image_seq_length=17)
    tf.Florence2Processor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    import sys

    builders = {"tagger": build_tagger, "blip": build_blip, "blip2": build_blip2, "florence2": build_florence2}
    print(builders[sys.argv[1]](Path(sys.argv[2])))
