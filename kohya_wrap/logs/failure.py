"""Name the cause of the trainer's own exception: its type and message, its frames in sd-scripts, sd-scripts' sites."""

from __future__ import annotations

import functools
import json
import re

from kohya_wrap import paths
from kohya_wrap.logs import sites
from kohya_wrap.logs.diagnose import HINTS, Context, Diagnosis, diagnose
from kohya_wrap.logs.exceptions import (RaisedError, english_half, exit_of_echo, is_launcher_echo, named_paths,
                                        raised_in_torch, relative, sd_scripts_root, trainer_frames)

IMAGE_BROKEN = re.compile(r"image file is truncated|cannot identify image file|broken data stream|Truncated File "
                          r"Read|UnidentifiedImageError|image file could not be|Premature end of|not a PNG file|"
                          r"libpng error|DecompressionBombError|decoder error|unrecognized data stream|imdecode")
OTHER_KINDS = [  # (kind, pattern over "Type: message"), before sd-scripts' own sites
    ("disk_full", re.compile(r"No space left on device|\[Errno 28\]|[Dd]isk quota exceeded")),
    ("permission_denied", re.compile(r"^PermissionError|Permission denied|\[Errno 13\]")),
    ("gpu_setup", re.compile(r"Torch not compiled with CUDA|Found no NVIDIA driver|CUDA driver version is insufficient|"
                             r"no kernel image is available|No CUDA GPUs are available|NVIDIA driver on your system")),
    ("bad_model", re.compile(r"SafetensorError|HeaderTooLarge|deserializing header|invalid load key|PytorchStreamReader"
                             r"|Error\(s\) in loading state_dict|size mismatch for|MetadataIncompleteBuffer")),
]
NOT_FOUND = re.compile(r"^(?:FileNotFoundError|NotADirectoryError|IsADirectoryError)\b|No such file or directory")
OS_ERRORS = ("OSError", "IOError", "PIL.UnidentifiedImageError", "UnidentifiedImageError", "SyntaxError", "cv2.error")
GENERIC = "trainer_error"
KILL_SIGNALS = ("SIGKILL", "SIGTERM")


def diagnose_chain(chain: list[RaisedError], ctx: Context) -> Diagnosis:
    """The trainer's exception (the last of a chain, unless only an earlier one names the cause)."""
    root = sd_scripts_root(chain)
    found = [_one(error, root, ctx) for error in chain if not is_launcher_echo(error)]
    chosen = next((d for d in reversed(found) if d.kind != GENERIC), found[-1])
    if chosen.kind == GENERIC and ctx.logged is not None:  # e.g. "model is not found ..." logged before `raise ex`
        logged = ctx.logged
        return Diagnosis(logged.kind, logged.message, logged.hint, chosen.exception, chosen.frame, chosen.path)
    return chosen


def launcher_diagnosis(echo: RaisedError, ctx: Context) -> Diagnosis:
    """accelerate reports a failed trainer that raised nothing: a signal, or an exit status with no exception."""
    status, signal = exit_of_echo(echo)
    tail = [line for line in ctx.before if line.strip()][-5:] or None
    if signal in KILL_SIGNALS:
        return Diagnosis("killed", f"the training script was killed by {signal}", HINTS["killed"], echo.type, tail=tail)
    if signal:
        return Diagnosis("native_crash", f"the training script crashed with {signal}", HINTS["native_crash"],
                         echo.type, tail=tail)
    last = " | ".join(tail or []) or "(nothing)"
    return Diagnosis("unknown", f"the training script exited with status {status if status is not None else '?'} "
                     "without raising an exception", f"Its last lines were: {last[-600:]} — read the end of "
                     "train.log for what it did last.", echo.type, tail=tail)


def _one(error: RaisedError, root: str | None, ctx: Context) -> Diagnosis:
    frames = trainer_frames(error, root)
    inner = frames[0] if frames else None
    where = relative(inner.file, root) if inner else None
    site = sites.site_at(where, inner.line, error.type) if inner else None
    if site is None and error.english:
        site = sites.site_for_message(error.english, inner.function if inner else None)
    logged = _logged(site, ctx.before)
    paths = named_paths(error.message) or named_paths(logged or "")
    facts = {"type": error.type, "english": error.english or error.type, "text": f"{error.type}: {error.english}" if error.english else error.type,
             "logged": logged, "path": paths[-1] if paths else None, "site": site, "where": where,
             "frame": f"{where}:{inner.line} in {inner.function}" if inner else None,
             "scope": _scope(error, frames, root), "step": ctx.sampling_step, "code": inner.code if inner else None}
    facts["option"] = _imported_option(facts["code"])
    kind, hint = _kind(error, facts, ctx)
    return Diagnosis(kind, _message(kind, facts), hint, error.type, facts["frame"], facts["path"])


def _kind(error: RaisedError, facts: dict, ctx: Context) -> tuple[str, str]:
    text = facts["text"]
    ruled = diagnose(text, ctx, error.type)
    if ruled is not None and ruled.kind in ("interrupted", "oom"):
        return ruled.kind, ruled.hint
    if facts["scope"] == "sampling_failed" or ctx.sampling_step is not None:
        return "sampling_failed", _hint("sampling_failed", facts)
    if IMAGE_BROKEN.search(text) or facts["scope"] == "corrupt_image":
        return "corrupt_image", _hint("corrupt_image", facts)
    if ruled is not None and ruled.kind == "backend_import" and facts["option"]:
        return "bad_arg", (f"The setting {facts['option']} names a module sd-scripts cannot import "
                           f"({facts['english']}): a typo, or a module that is not in this checkout; e.g. "
                           "network_module = \"networks.lora\".")
    if ruled is not None:
        return ruled.kind, ruled.hint
    for kind, pattern in OTHER_KINDS:
        if pattern.search(text):
            return kind, _hint(kind, facts)
    kind = (facts["site"].kind if facts["site"] else None) or facts["scope"]
    if kind is None and NOT_FOUND.search(text):
        kind = "missing_file"
    return (kind, _hint(kind, facts)) if kind else (GENERIC, _hint(GENERIC, facts))


def _imported_option(code: str | None) -> str | None:
    """The option whose value the failing line imports by name (importlib.import_module(args.network_module)):
    a module missing there means the setting is wrong, not the installation."""
    match = re.search(r"import_module\(\s*args\.(\w+)", code or "")
    return match.group(1) if match else None


def _scope(error: RaisedError, frames, root: str | None) -> str | None:
    """The kind of the innermost sd-scripts function that says what the failure is about."""
    for frame in frames:
        kind = sites.scope_kind(relative(frame.file, root), frame.line, frame.function)
        if kind in ("bad_dataset", "corrupt_image") and raised_in_torch(error):
            continue  # a tensor op failed while the dataset was being processed: not the data's fault
        if kind == "corrupt_image" and error.type not in OS_ERRORS and not IMAGE_BROKEN.search(error.message):
            kind = "bad_dataset"
        if kind is not None:
            return kind
    return None


def _logged(site, before: list[str]) -> str | None:
    """The error sd-scripts logged right before raising: the site's own message, else an error-looking line."""
    lines = [english_half(line.strip()) for line in before[-3:] if line.strip()]
    if site is not None and site.logged_pattern is not None:
        match = next((line for line in reversed(lines) if site.logged_pattern.fullmatch(line)), None)
        if match:
            return match
    return next((line for line in reversed(lines) if re.search(r"\b(?:error|illegal|failed|cannot|could not)\b",
                                                               line, re.I)), None)


def _at(facts: dict) -> str:
    return f", at `{facts['code'][:120]}`" if facts["code"] else ""


def _options(text: str) -> str:
    """The sd-scripts options a message names ("adaptive_noise_scale, noise_offset"), else a generic phrase."""
    names = [word for word in dict.fromkeys(re.findall(r"[a-z][a-z0-9_]*_[a-z0-9_]+", text)) if word in _arg_names()]
    return ", ".join(names) if names else "the options it names"


@functools.lru_cache(maxsize=1)
def _arg_names() -> frozenset[str]:
    return frozenset(json.loads(paths.args_table_path().read_text(encoding="utf-8"))["args"])


def _message(kind: str, facts: dict) -> str:
    text = facts["text"]
    if facts["logged"] and facts["logged"] not in text:
        text += f" ({facts['logged']})"
    path = facts["path"]
    step = facts["step"]
    when = "" if step is None else " before the first step" if step == 0 else f" at step {step}"
    lead = {"sampling_failed": f"making a sample image{when} failed: ",
            "corrupt_image": "a training image could not be read: ",
            "bad_model": "the base model could not be loaded: ",
            "trainer_error": ""}.get(kind, "")
    if kind == "missing_file" and facts["scope"] == "missing_file":
        lead = "a CLIP tokenizer could not be loaded: "
    text = lead + text
    if (kind in ("trainer_error", "bad_network_args", "bad_model") or facts["option"]) and facts["code"]:
        text += f" at `{facts['code'][:120]}`"  # the failing line often names the setting (conv_dim = int(conv_dim))
    if path and path not in text:
        text += f" [{path}]"
    return text


def _hint(kind: str, facts: dict) -> str:
    path, english = facts["path"], facts["english"]
    named = f" {path}" if path else ""
    if kind == "missing_file" and facts["scope"] == "missing_file":
        return ("The CLIP tokenizers are not on disk and the Hugging Face hub is offline. "
                "`kohya-wrap backend tokenizers` fills the offline cache that runs pass as tokenizer_cache_dir.")
    texts = {
        "sampling_failed": f"Training stopped while making a sample image ({english}). Check the sample prompt's "
                           "options (--w --h --s --l --d --n, --ss sampler, --cn control image"
                           + (f": {path} must exist" if path else "") + ") and sample_sampler, or turn sampling "
                           "off (sample.sample_every_n_steps / sample_every_n_epochs / sample_at_first).",
        "corrupt_image": f"The image{named} is damaged or not a format sd-scripts reads ({english}). Re-export or "
                         "re-copy it, or move it and its caption out of the dataset; `kohya-wrap data check DIR` "
                         "lists every such file.",
        "bad_dataset": f"A file or setting of the dataset cannot be used ({path or 'see the message'}): {english}. "
                       "Fix or remove it; "
                       "`kohya-wrap data check DIR` checks images and captions.",
        "bad_network_args": f"network.network_args holds a value {facts['where'] or 'the network module'} cannot use "
                            f"({english}{_at(facts)}). Each entry is \"key=value\" with a number where the module "
                            "expects one.",
        "bad_arg": f"sd-scripts refused the settings: {english}. Change {_options(english)} in the preset or as "
                   "KEY=VALUE overrides.",
        "bad_dataset_config": f"dataset.toml was refused by sd-scripts: {english}. Fix the [dataset] section.",
        "bad_model": f"The base model{named} cannot be read as an SDXL checkpoint ({english}): a partial download is "
                     "the usual cause; re-download it or pass the right --model.",
        "missing_file": f"The file{named} does not exist: fix the path (paths in the log are as the trainer saw them).",
        "backend_import": HINTS["backend"],
        "disk_full": f"The disk is full{named}: free space where the job writes (output, states, cache) or keep "
                     "fewer saved states.",
        "permission_denied": f"The trainer may not read or write{named or ' a file'}: fix its permissions or use "
                             "another folder.",
        "gpu_setup": f"torch cannot use the GPU ({english}): check the driver (`nvidia-smi`) and that torch is built "
                     "for this CUDA; `kohya-wrap doctor` shows the platform.",
        "oom": HINTS["oom_gpu"],
    }
    if kind in texts:
        return texts[kind]
    where = f" in {facts['frame']}" if facts["frame"] else ""
    return (f"sd-scripts stopped with {facts['text']}{where}{_at(facts)}. kohya-wrap has no rule for this one: the traceback at the "
            "end of train.log shows the call that failed.")
