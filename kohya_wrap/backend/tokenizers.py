"""Offline CLIP tokenizers for sd-scripts' --tokenizer_cache_dir: from a local hub cache or the CLIP BPE file."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import BackendError

# sd-scripts looks for <cache>/<hub id with "/" -> "_"> (library/strategy_base.py, sdxl_train_util.py).
HUB_IDS = ("openai/clip-vit-large-patch14", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k")
VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz"
NEEDED = ("vocab.json", "merges.txt", "tokenizer_config.json")
HUB_FILES = NEEDED + ("special_tokens_map.json", "tokenizer.json")
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MERGE_COUNT = 49152 - 256 - 2  # the slice CLIP's SimpleTokenizer and transformers' CLIPTokenizer use
VOCAB_HINT = ("pass --vocab with open_clip's bpe_simple_vocab_16e6.txt.gz (or the open_clip_torch wheel: "
              "`pip download --no-deps open_clip_torch`), or install open_clip_torch")


def folder_name(hub_id: str) -> str:
    return hub_id.replace("/", "_")


def default_dir() -> Path:
    return paths.tokenizer_cache_dir()  # the folder rendered jobs point --tokenizer_cache_dir at


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in NEEDED)


def ensure_tokenizer_cache(dir: Path | None = None, vocab: Path | None = None, python: str | None = None) -> Path:
    """The tokenizer cache folder, filled if needed (hub cache first, else derived from the BPE file)."""
    fill_tokenizer_cache(dir, vocab, python)
    return Path(dir or default_dir())


def fill_tokenizer_cache(dir: Path | None = None, vocab: Path | None = None,
                         python: str | None = None) -> dict[str, str]:
    """Fill missing tokenizer folders; returns {folder name: where it came from}."""
    target = Path(dir or default_dir())
    sources: dict[str, str] = {}
    bpe_text: str | None = None
    for hub_id in HUB_IDS:
        folder = target / folder_name(hub_id)
        if is_complete(folder):
            sources[folder.name] = "already cached"
            continue
        snapshot = hub_snapshot(hub_id)
        if snapshot is not None:
            _install_folder(folder, {name: (snapshot / name).read_bytes()
                                     for name in HUB_FILES if (snapshot / name).is_file()})
            sources[folder.name] = f"hub cache {snapshot}"
            continue
        if bpe_text is None:
            vocab_path = find_vocab(vocab, python)
            bpe_text = read_bpe(vocab_path)
            vocab_source = str(vocab_path)
        _install_folder(folder, derive_files(bpe_text))
        sources[folder.name] = f"derived from {vocab_source}"
    return sources


def hub_snapshot(hub_id: str) -> Path | None:
    """A snapshot folder in the local Hugging Face hub cache that has the tokenizer files."""
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub")
    snapshots = Path(hub) / ("models--" + hub_id.replace("/", "--")) / "snapshots"
    for snapshot in sorted(snapshots.glob("*")) if snapshots.is_dir() else []:
        if (snapshot / "vocab.json").is_file() and (snapshot / "merges.txt").is_file():
            return snapshot
    return None


def find_vocab(vocab: Path | None = None, python: str | None = None) -> Path:
    """The CLIP BPE file: given path, else the open_clip package here, else in the backend's python."""
    if vocab is not None:
        if not Path(vocab).is_file():
            raise BackendError(f"Vocabulary file not found: {vocab}", hint=VOCAB_HINT)
        return Path(vocab)
    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it (and torch)
    candidates = [Path(spec.origin).parent / VOCAB_NAME] if spec and spec.origin else []
    if python:
        candidates += _vocab_in_python(python)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise BackendError("No CLIP BPE vocabulary found to build the offline tokenizers from", hint=VOCAB_HINT)


def _vocab_in_python(python: str) -> list[Path]:
    code = "import importlib.util as u; s = u.find_spec('open_clip'); print(s.origin if s and s.origin else '')"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    origin = done.stdout.strip()
    return [Path(origin).parent / VOCAB_NAME] if done.returncode == 0 and origin else []


def read_bpe(path: Path) -> str:
    """Decompressed BPE text from the .gz file or from an open_clip_torch wheel."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as wheel:
                data = wheel.read(f"open_clip/{VOCAB_NAME}")
        else:
            data = Path(path).read_bytes()
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, KeyError, gzip.BadGzipFile, EOFError, UnicodeDecodeError) as error:
        raise BackendError(f"Cannot read the CLIP BPE vocabulary from {path}: {error}", hint=VOCAB_HINT) from None
    lines = text.split("\n")
    if not lines[0].endswith("#version: 0.2") or len(lines) < MERGE_COUNT + 1:
        raise BackendError(f"{path} is not CLIP's BPE merges file", hint=VOCAB_HINT)
    return text


def byte_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in the order CLIP numbers them."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in kept]
    return [chr(b) for b in kept] + [chr(256 + n) for n in range(len(shifted))]


def derive_files(bpe_text: str) -> dict[str, bytes]:
    """The four tokenizer files CLIPTokenizer.from_pretrained reads, built from the BPE merges."""
    merges = bpe_text.split("\n")[1:MERGE_COUNT + 1]
    alphabet = byte_alphabet()
    tokens = alphabet + [char + "</w>" for char in alphabet] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    special = {"content": None, "lstrip": False, "normalized": True, "rstrip": False,
               "single_word": False, "special": True}
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(vocab[t]): {**special, "content": t} for t in (BOS, EOS)},
        "bos_token": BOS, "clean_up_tokenization_spaces": True, "do_lower_case": True, "eos_token": EOS,
        "errors": "replace", "model_max_length": 77, "pad_token": EOS, "tokenizer_class": "CLIPTokenizer",
        "unk_token": EOS,
    }
    special_map = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False).encode("utf-8"),
        "merges.txt": ("#version: 0.2\n" + "".join(m + "\n" for m in merges)).encode("utf-8"),
        "tokenizer_config.json": json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        "special_tokens_map.json": json.dumps(special_map, indent=2, ensure_ascii=False).encode("utf-8"),
    }


def _install_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write the files into a temp folder beside the target, then move it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any other folder
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
