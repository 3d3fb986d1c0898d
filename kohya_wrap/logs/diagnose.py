"""Name the cause of a failure (error kind) and say what to change (hint), from sd-scripts' messages."""

from __future__ import annotations

import difflib
import functools
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from kohya_wrap.logs.exceptions import english_half


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    message: str
    hint: str
    exception: str | None = None
    frame: str | None = None  # innermost frame inside sd-scripts: "library/train_util.py:1964 in read_caption"
    path: str | None = None  # the file or folder the failure names
    tail: list[str] | None = None  # the log's last lines, when nothing else names the cause


@dataclass
class Context:
    """What earlier lines told us that makes a hint precise."""

    ignored_dirs: list[str] = field(default_factory=list)  # folders skipped for lacking "N_" repeats
    options: set[str] = field(default_factory=set)  # --options listed in an argparse usage text
    logged: Diagnosis | None = None  # a logger.error that precedes the exception it explains
    recent: deque = field(default_factory=lambda: deque(maxlen=8))  # the last message lines (no bars)
    before: list[str] = field(default_factory=list)  # `recent` when the traceback being read began
    sampling_step: int | None = None  # a sample image was being made at this step


HINTS = {
    "oom_gpu": "GPU memory ran out. Lower train_batch_size or the resolution, keep gradient_checkpointing and "
               "cache_latents on, use a smaller network_dim, or pick a preset made for less VRAM.",
    "oom_ram": "RAM (or the process's virtual-memory limit, `ulimit -v`) ran out. SDXL needs about 22 GB while "
               "the checkpoint loads on CPU: free memory, raise the limit, or add swap.",
    "oom_mmap": "The checkpoint could not be memory-mapped: the free address space (`ulimit -v`) or memory is "
                "smaller than the model file. Raise the limit or free memory.",
    "nan": "The loss became NaN/Inf and training cannot recover from it. Lower the learning rate, prefer bf16 to "
           "fp16 (keep no_half_vae for SDXL), and check the images for broken files.",
    "interrupted": "The run was interrupted (Ctrl-C / SIGINT). If it saved state, continue it with "
                   "`kohya-wrap train --resume JOB`.",
    "killed": "The trainer stopped with no error message, so a signal killed it (SIGTERM/SIGKILL). If nobody "
              "stopped it, the kernel's out-of-memory killer is the usual cause (see `dmesg`): lower memory use.",
    "native_crash": "The trainer crashed inside native code (a signal such as SIGSEGV or SIGABRT, no Python error): "
                    "usually a torch/CUDA/driver or xformers build that does not match; `kohya-wrap doctor` checks "
                    "the platform.",
    "backend": "A package sd-scripts needs is missing or broken: `kohya-wrap doctor` shows which; "
               "`kohya-wrap backend install` installs them.",
}


def _no_data(m: re.Match, ctx: Context) -> str:
    hint = ("No training images were found. train_data_dir must contain folders named <repeats>_<name> "
            "(e.g. 10_mychar) holding the images; a dataset_config must point at existing image folders.")
    if ctx.ignored_dirs:
        names = ", ".join(ctx.ignored_dirs)
        hint += f" Ignored for lacking the repeat prefix: {names} (rename e.g. to 10_{ctx.ignored_dirs[0]})."
    return hint


def _bad_arg(m: re.Match, ctx: Context) -> str:
    text = m.string
    wrong = re.findall(r"--[\w-]+", text.split("arguments:", 1)[-1]) if "unrecognized" in text else []
    hint = "sd-scripts refused an argument: fix it in args.toml (or the preset / key=value override)."
    for option in wrong:
        close = _closest(option, frozenset(ctx.options))
        hint += f" {option} is not an option" + (f"; did you mean {close}?" if close else ".")
    choices = re.search(r"argument (--[\w-]+): invalid choice: (.*)", text)
    if choices:
        hint += f" {choices[1]} accepts {choices[2].split('(choose from', 1)[-1].rstrip(')').strip()}."
    return hint


@functools.lru_cache(maxsize=64)
def _closest(option: str, options: frozenset[str]) -> str | None:
    close = difflib.get_close_matches(option, sorted(options), n=1, cutoff=0.75)
    return close[0] if close else None


def _import(m: re.Match, ctx: Context) -> str:
    text = m.string
    module = re.search(r"No module named '([\w.]+)'", text)
    name = module[1].split(".")[0] if module else None
    if name == "xformers" or "xformers" in text:
        return "xformers is not installed: use sdpa = true instead of xformers (or install xformers)."
    if name == "bitsandbytes" or "bitsandbytes" in text:
        return "bitsandbytes is missing or broken: use optimizer_type AdamW instead of an 8-bit optimizer."
    if "torchvision::nms" in text:
        return ("torchvision does not match the installed torch (its C++ ops do not load): install the "
                "torchvision built for this torch. " + HINTS["backend"])
    return (f"Python module {name!r} is missing. " if name else "") + HINTS["backend"]


def _launch_import(m: re.Match, ctx: Context) -> str:
    python, module = m["python"], (m["module"] or m["bare"] or "").split(".")[0]
    return (f"The backend's Python ({python}) cannot import {module!r}, so nothing was launched: install it there "
            f"(`{python} -m pip install {module}`), point KOHYA_WRAP_PYTHON at the Python that has sd-scripts' "
            "packages, or run `kohya-wrap backend install`.")


def _path_hint(what: str) -> Callable[[re.Match, Context], str]:
    def hint(m: re.Match, ctx: Context) -> str:
        path = next((g for g in m.groups() if g), None) if m.groups() else None
        where = f" {path.strip()}" if path else ""
        return f"{what}{where} does not exist: fix the path (paths in the log are as the trainer saw them)."
    return hint


# (kind, pattern over "ExceptionType: message" or a log message, hint text or function); first match wins.
RULES: list[tuple[str, re.Pattern, object]] = [(kind, re.compile(pattern), hint) for kind, pattern, hint in [
    ("interrupted", r"^KeyboardInterrupt", HINTS["interrupted"]),
    ("oom", r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError|HIP out of memory|MPS backend out of "
            r"memory", HINTS["oom_gpu"]),
    ("oom", r"unable to mmap \d+ bytes", HINTS["oom_mmap"]),
    ("oom", r"can't allocate memory|Cannot allocate memory|std::bad_alloc|^MemoryError", HINTS["oom_ram"]),
    ("no_data", r"No data found\. Please verify", _no_data),
    ("bad_arg", r"^[\w.-]+: error: |error: unrecognized arguments|the following arguments are required", _bad_arg),
    ("bad_arg", r"optimizer got an empty parameter list",
     "The LoRA has no weights to train: network_dim is 0, or network_args / block dims switch every block "
     "off, or nothing is selected to train (network_train_unet_only with the U-Net excluded). Give it a rank "
     "(network.network_dim) and blocks to train."),
    ("backend_import", r"^(?:ModuleNotFoundError|ImportError)\b|torchvision::nms does not exist|DLL load failed",
     _import),
    ("backend_import", r"^(?P<python>\S*python[\w.]*): (?:Error while finding module specification for '[\w.]+' "
                       r"\((?:ModuleNotFoundError|ImportError): No module named '(?P<module>[\w.]+)'\)|No module named "
                       r"(?P<bare>[\w.]+))", _launch_import),
    ("missing_file", r"^\S*python[\w.]*: can't open file '(.+?)'",
     "The training script does not exist there: the sd-scripts checkout moved or is incomplete. "
     "`kohya-wrap backend use PATH` registers the right one; `kohya-wrap doctor` checks it."),
    ("missing_model", r"neither a valid local path nor a valid repo id|model is not found as a file or in Hugging"
                      r"(?:.*?: (.+))?", _path_hint("The base model (pretrained_model_name_or_path)")),
    ("missing_file", r"Tried to find (.+?) but folder does not exist", _path_hint("The resume state folder")),
    ("missing_file", r"Can't load tokenizer for|couldn't connect to 'https://huggingface\.co'",
     "Files are not on disk and the Hugging Face hub is offline. For the CLIP tokenizers, "
     "`kohya-wrap backend tokenizers` fills the offline cache that runs pass as tokenizer_cache_dir."),
    ("missing_file", r"^FileNotFoundError: .*?'(.+?)'|file not found / [^:]*: (.+)|^(\S+) not found\.$",
     _path_hint("The file")),
    ("bad_dataset_config", r"^voluptuous\.|MultipleInvalid|Invalid user config|Error on parsing (?:TOML|JSON) "
                           r"config file|cannot be mixed in the same dataset|not supported config file format",
     "dataset.toml does not follow sd-scripts' dataset config format: fix the key or value the message names."),
]]


def diagnose(text: str, ctx: Context, exception: str | None = None) -> Diagnosis | None:
    """The known failure a message or exception line describes, or None."""
    for kind, pattern, hint in RULES:
        match = pattern.search(text)
        if match:
            hint_text = hint(match, ctx) if callable(hint) else hint
            return Diagnosis(kind, english_half(text.strip()), hint_text, exception)
    return None


def nan_diagnosis(step: int | None) -> Diagnosis:
    at = f" at step {step}" if step is not None else ""
    return Diagnosis("nan", f"avr_loss is NaN{at}", HINTS["nan"])


def killed_diagnosis() -> Diagnosis:
    return Diagnosis("killed", "the log stops in the middle of a line with no error message", HINTS["killed"])
