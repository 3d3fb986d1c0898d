"""Offline CLIP tokenizers: derived files equal the fixtures byte for byte and give the known token ids."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from kohya_wrap.backend import tokenizers
from kohya_wrap.errors import BackendError

from samples import FIXTURES

FIXTURE = FIXTURES / "clip-tokenizers"
VOCAB_GZ = FIXTURE / tokenizers.VOCAB_NAME
FOLDERS = [tokenizers.folder_name(hub) for hub in tokenizers.HUB_IDS]
FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
# From the fixture README (the ids other projects' CLIP tests hard-code).
KNOWN = {
    "a photo of a cat": [49406, 320, 1125, 539, 320, 2368, 49407],
    "a photo of a dog": [49406, 320, 1125, 539, 320, 1929, 49407],
    "Hello, world!": [49406, 3306, 267, 1002, 256, 49407],
    "A PHOTO of  a Cat!": [49406, 320, 1125, 539, 320, 2368, 256, 49407],
}
WORDS = {"cat": 2368, "dog": 1929, "car": 1615, "beach": 2117, "sunset": 3424}


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("tok")
    tokenizers.fill_tokenizer_cache(target, VOCAB_GZ)
    return target


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", FILES)
def test_derived_files_equal_fixtures_byte_for_byte(derived, folder, name):
    assert (derived / folder / name).read_bytes() == (FIXTURE / folder / name).read_bytes()


def test_wheel_gives_the_same_files(tmp_path):
    wheel = tmp_path / "open_clip_torch-3.3.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(VOCAB_GZ, f"open_clip/{tokenizers.VOCAB_NAME}")
    tokenizers.fill_tokenizer_cache(tmp_path / "cache", wheel)
    for folder in FOLDERS:
        assert (tmp_path / "cache" / folder / "vocab.json").read_bytes() == (FIXTURE / folder / "vocab.json").read_bytes()


def test_vocabulary_layout(derived):
    vocab = json.loads((derived / FOLDERS[0] / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 49408 and vocab["!"] == 0 and vocab["!</w>"] == 256
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert {word: vocab[word + "</w>"] for word in WORDS} == WORDS


class ClipBpe:
    """A small reference encoder (CLIP's algorithm) reading only vocab.json and merges.txt."""

    def __init__(self, folder: Path):
        self.vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        merges = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")[1:-1]
        self.ranks = {tuple(line.split()): rank for rank, line in enumerate(merges)}
        self.bytes = dict(zip(range(256), self._byte_order()))

    @staticmethod
    def _byte_order() -> list[str]:
        kept = [*range(33, 127), *range(161, 173), *range(174, 256)]
        values = kept + [b for b in range(256) if b not in kept]
        chars = [chr(b) for b in kept] + [chr(256 + n) for n in range(256 - len(kept))]
        return [chars[values.index(b)] for b in range(256)]

    def bpe(self, token: str) -> list[str]:
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get(pair, 1e9), i) for i, pair in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == 1e9:
                break
            word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
        return word

    def encode(self, text: str) -> list[int]:
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = [self.vocab["<|startoftext|>"]]
        for token in re.findall(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", text):
            mapped = "".join(self.bytes[b] for b in token.encode("utf-8"))
            ids += [self.vocab[piece] for piece in self.bpe(mapped)]
        return ids + [self.vocab["<|endoftext|>"]]


@pytest.mark.parametrize("folder", FOLDERS)
def test_known_token_ids(derived, folder):
    encoder = ClipBpe(derived / folder)
    assert {text: encoder.encode(text) for text in KNOWN} == KNOWN


def test_existing_cache_is_kept(tmp_path):
    tokenizers.fill_tokenizer_cache(tmp_path, VOCAB_GZ)
    sources = tokenizers.fill_tokenizer_cache(tmp_path, vocab=None)  # no vocab needed any more
    assert set(sources.values()) == {"already cached"}


def test_local_hub_cache_is_preferred(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--openai--clip-vit-large-patch14" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "tokenizer.json"):
        (snapshot / name).write_text(f"hub {name}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    sources = tokenizers.fill_tokenizer_cache(tmp_path / "cache", VOCAB_GZ)
    assert sources[FOLDERS[0]] == f"hub cache {snapshot}"
    assert sources[FOLDERS[1]].startswith("derived from ")
    assert (tmp_path / "cache" / FOLDERS[0] / "tokenizer.json").read_text() == "hub tokenizer.json"


def test_no_vocabulary_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(tokenizers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError) as caught:
        tokenizers.ensure_tokenizer_cache(tmp_path / "cache")
    assert "No CLIP BPE vocabulary" in caught.value.message and "pip download --no-deps open_clip_torch" in caught.value.hint
    with pytest.raises(BackendError, match="not found"):
        tokenizers.ensure_tokenizer_cache(tmp_path / "cache", vocab=tmp_path / "nope.gz")


def test_a_wrong_file_is_rejected(tmp_path):
    bogus = tmp_path / "bpe.txt.gz"
    bogus.write_bytes(b"not gzip")
    with pytest.raises(BackendError, match="Cannot read the CLIP BPE vocabulary"):
        tokenizers.fill_tokenizer_cache(tmp_path / "cache", bogus)
    assert not (tmp_path / "cache" / FOLDERS[0]).exists()


def test_default_location_is_in_the_cache(isolated_home):
    assert tokenizers.default_dir() == isolated_home / "cache" / "tokenizers"
    assert tokenizers.ensure_tokenizer_cache(vocab=VOCAB_GZ) == isolated_home / "cache" / "tokenizers"


CHECK = """
import json, sys
from transformers import CLIPTokenizer
out = {}
for folder in sys.argv[1:]:
    tok = CLIPTokenizer.from_pretrained(folder)
    out[folder] = {"len": len(tok), "ids": {t: tok(t)["input_ids"] for t in %r}}
print(json.dumps(out))
""" % list(KNOWN)


@pytest.mark.backend
def test_transformers_clip_tokenizer_gives_known_ids(derived, sd_scripts_root, backend_python):
    folders = [str(derived / folder) for folder in FOLDERS]
    done = subprocess.run([backend_python, "-c", CHECK, *folders], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for folder in folders:
        assert result[folder] == {"len": 49408, "ids": KNOWN}
