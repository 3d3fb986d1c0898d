"""What sd-scripts' messages mean: one dispatch regex over every line the parser acts on, and a handler each."""

from __future__ import annotations

import re

from kohya_wrap.logs import diagnose as dx
from kohya_wrap.logs.stream import bar_values

CONFIG_KEYS = {"num train images * repeats": "images", "num validation images * repeats": "val_images",
               "num reg images": "reg_images", "num batches per epoch": "batches_per_epoch",
               "num epochs": "epochs", "batch size per device": "batch_size",
               "gradient accumulation steps": "grad_accum", "total optimization steps": "steps"}
SAMPLE_KEYS = {"negative_prompt": None, "height": "height", "width": "width", "sample_steps": "sample_steps",
               "scale": None, "sample_sampler": None, "seed": "seed"}
WARNING_KINDS = {"no regularization images": "no_reg_images", "Failed to get git commit hash": "git_hash"}

# One anchored alternation over every message the parser acts on; the outer group's name picks the handler.
PATTERNS = [
    r"(?P<banner>running training / )",
    r"(?P<cfg>\s+(?P<cfg_key>" + "|".join(re.escape(k) for k in CONFIG_KEYS) + r") / [^\n]*?[:=] *(?P<cfg_val>\d+))",
    r"(?P<epoch>epoch (?P<ep_n>\d+)/(?P<ep_total>\d+)\s*$)",
    r"(?P<ckpt>saving checkpoint: (?P<ckpt_path>[^\n]+))",
    r"(?P<state>save train state to (?P<st_path>[^\n]+?) at epoch (?P<st_epoch>-?\d+) step (?P<st_step>-?\d+))",
    r"(?P<done>model saved\.)",
    r"(?P<sample>generating sample images at step / [^:\n]*: *(?P<smp_step>-?\d+))",
    r"(?P<sparam>(?P<sp_key>prompt|" + "|".join(SAMPLE_KEYS) + r"): (?P<sp_val>[^\n]*))",
    r"(?P<resume>load train state from (?P<rs_path>[^\n]+?)/train_state\.json: "
    r"\{'current_epoch': (?P<rs_epoch>\d+), 'current_step': (?P<rs_step>\d+)\})",
    r"(?P<skip>skipping \d+ steps / |steps from the state is ignored because initial_step)",
    r"(?P<kept>kohya-wrap: resumed run continues at global step \d+)",
    r"(?P<skip_epoch>skipping epoch (?P<sk_epoch>\d+) because initial_step)",
    r"(?P<load>loading model for process|load StableDiffusion checkpoint|load Diffusers pretrained models)",
    r"(?P<caching>caching latents|caching Text Encoder outputs)",
    r"(?P<ignored>ignore directory without repeats / [^:\n]*: (?P<ign_dir>[^\n]+))",
    r"(?P<known_warn>" + "|".join(WARNING_KINDS) + ")",
    r"(?P<pywarn>\S+:\d+: (?P<pw_cat>\w*Warning): [^\n]*)",
    r"(?P<no_prompts>No prompt file / [^:\n]*: (?P<np_path>[^\n]+))",
    r"(?P<err_now>No data found\. Please verify|[\w.-]+\.py: error: |\S+ not found\.$|"
    r"\S*python[\w.]*: (?:Error while finding module specification|No module named|can't open file))",
    r"(?P<err_later>Invalid user config|Error on parsing (?:TOML|JSON) config file|model is not found as a file)",
    r"(?P<usage>usage: )",
]
DISPATCH = re.compile("|".join(PATTERNS))
OPTION_RE = re.compile(r"--[\w-]+")
CKPT_STEP_RE = re.compile(r"-step(\d{8})\.\w+$")
CKPT_EPOCH_RE = re.compile(r"-(\d{6})\.\w+$")


class MessageRules:
    """Mixin of LogParser: turns one message (a plain line or a rebuilt rich record) into events."""

    def _message(self, text: str, level: str | None, source: str | None) -> None:
        if text.strip():
            self._ctx.recent.append(text.split("\n", 1)[0].strip())
        match = DISPATCH.match(text)
        name = match.lastgroup if match else None
        if self._sample is not None and name != "sparam":
            self._end_sample()
        handler = getattr(self, "_on_" + name) if name else None
        if handler is not None:
            handler(match, text, source)
        elif level in ("WARNING", "ERROR", "CRITICAL"):
            kind = None if level == "WARNING" else "logged_error"
            self._emit("warning", kind=kind, message=text.split("\n", 1)[0], source=source)

    def _on_banner(self, m, text, source):
        self._phase("training")
        self._config = {}

    def _on_cfg(self, m, text, source):
        key = CONFIG_KEYS[m["cfg_key"]]
        self._config[key] = int(m["cfg_val"])
        if key == "steps":
            self._emit("config", **self._config)

    def _on_epoch(self, m, text, source):
        self._sampling = None
        self._emit("epoch", epoch=int(m["ep_n"]), total=int(m["ep_total"]))

    def _on_ckpt(self, m, text, source):
        self._sampling = None
        path = m["ckpt_path"].strip()
        step, epoch = CKPT_STEP_RE.search(path), CKPT_EPOCH_RE.search(path)
        final = not step and not epoch
        last = self._emitted_step if self._bar is None else bar_values(self._bar[0])["n"] + self._resume_offset()
        self._emit("saved", path=path, what="model", final=final or None, epoch=int(epoch[1]) if epoch else None,
                   step=int(step[1]) + self._resume_offset() if step else (last if final else None))

    def _on_state(self, m, text, source):
        logged, offset = int(m["st_step"]), self._resume_offset()
        self._emit("saved", path=m["st_path"].rsplit("/", 1)[0], what="state", epoch=int(m["st_epoch"]),
                   step=logged + offset, logged_step=logged if offset else None)

    def _on_done(self, m, text, source):
        self.finished = True
        self._end_step()

    def _on_sample(self, m, text, source):
        self._sampling = int(m["smp_step"]) + self._resume_offset()
        self._sample_index = 0

    def _on_sparam(self, m, text, source):
        if self._sampling is None:
            return
        key, value = m["sp_key"], m["sp_val"].strip()
        if key == "prompt":
            self._end_sample()
            self._sample = {"t": self._t(), "step": self._sampling, "index": self._sample_index, "prompt": value}
            self._sample_index += 1
        elif self._sample is not None and SAMPLE_KEYS.get(key):
            self._sample[SAMPLE_KEYS[key]] = int(value) if value.lstrip("-").isdigit() else value

    def _on_resume(self, m, text, source):
        self._resume = {"t": self._t(), "state": m["rs_path"], "epoch": int(m["rs_epoch"]), "step": int(m["rs_step"])}

    def _on_skip(self, m, text, source):
        self._skip = True

    def _on_kept(self, m, text, source):
        self._kept = True  # vendor/patches/0003: the trainer's own step numbers are the run's

    def _on_skip_epoch(self, m, text, source):
        epochs = self._config.get("epochs")
        if epochs is not None and int(m["sk_epoch"]) == epochs:
            self._emit("warning", kind="resume_overskip", source=source, message=(
                f"sd-scripts skipped all {epochs} epochs while resuming, so nothing will be trained "
                f"(skip_until_initial_step over-skips with gradient accumulation at this commit): {text}"))

    def _on_load(self, m, text, source):
        self._phase("load")

    def _on_caching(self, m, text, source):
        self._phase("caching")

    def _on_ignored(self, m, text, source):
        if m["ign_dir"].strip() not in self._ctx.ignored_dirs:
            self._ctx.ignored_dirs.append(m["ign_dir"].strip())
        self._emit("warning", kind="ignored_dir", message=text, source=source)

    def _on_known_warn(self, m, text, source):
        self._emit("warning", kind=WARNING_KINDS[m["known_warn"]], message=text.split("\n", 1)[0], source=source)

    def _on_no_prompts(self, m, text, source):
        # sd-scripts logs this and trains on without samples: the run is not failing
        self._emit("warning", kind="samples_skipped", source=source,
                   message=f"no sample images: the prompt file {m['np_path'].strip()} does not exist (training goes on)")

    def _on_pywarn(self, m, text, source):
        self._emit("warning", kind="python_warning", message=text, source=source)

    def _on_err_now(self, m, text, source):
        found = dx.diagnose(text, self._ctx)
        if found is not None:
            self._error(found)

    def _on_err_later(self, m, text, source):
        self._ctx.logged = dx.diagnose(text, self._ctx)  # the exception that follows names the details

    def _on_usage(self, m, text, source):
        self._usage = True
        self._ctx.options.update(OPTION_RE.findall(text))

    def _phase(self, name: str) -> None:
        if name not in self._phases:
            self._phases.add(name)
            self._emit("phase", name=name)

    def _end_sample(self) -> None:
        sample, self._sample = self._sample, None
        if sample is not None:
            self._emit("sample", **sample)
