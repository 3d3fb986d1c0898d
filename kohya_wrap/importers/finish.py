"""Checks every import ends with: values sd-scripts' SDXL trainer would stop on are fixed or dropped, with why."""

from __future__ import annotations

from kohya_wrap.importers.record import Dropped, Imported, Value

NO_WARMUP = ("constant",)
# sd-scripts' own defaults where kohya-wrap's [dataset] defaults differ: a source that leaves them out meant these.
SD_SCRIPTS_DATASET_DEFAULTS = {"enable_bucket": False, "min_bucket_reso": 256, "max_bucket_reso": 1024,
                               "caption_extension": ".caption"}


def finish(imp: Imported) -> Imported:
    if imp.fmt in ("sd-scripts", "lora-easy"):
        _sd_scripts_defaults(imp)
    _bucket_steps(imp)
    _warmup(imp)
    _one_text_encoder_rate(imp)
    clip_skip = imp.values.pop("clip_skip", None)
    if clip_skip is not None:
        imp.dropped.append(Dropped(clip_skip.source, clip_skip.value, "sd-scripts' SDXL trainer ignores clip_skip "
                                   "(it warns that it does not work for SDXL)"))
    return imp


def _bucket_steps(imp: Imported) -> None:
    found = imp.values.get("dataset.bucket_reso_steps")
    if found is not None and isinstance(found.value, int) and found.value % 32:
        imp.values["dataset.bucket_reso_steps"] = Value(
            "dataset", "bucket_reso_steps", 64, found.source,
            f"{found.value} -> 64: sd-scripts' SDXL trainer stops unless it is divisible by 32 (the source would fail "
            "there too); 64 is sd-scripts' and the GUI's default")


def _warmup(imp: Imported) -> None:
    warmup = imp.values.get("lr_warmup_steps")
    if warmup is None or not warmup.value:
        return
    scheduler = str(imp.get("optimizer.lr_scheduler", "constant"))
    custom = imp.get("optimizer.lr_scheduler_type")
    if custom or scheduler in NO_WARMUP or scheduler.startswith("adafactor"):
        del imp.values["lr_warmup_steps"]
        what = f"lr_scheduler_type {custom!r}" if custom else f"the {scheduler!r} scheduler"
        imp.dropped.append(Dropped(warmup.source, warmup.value, f"{what} takes no warmup: sd-scripts stops with "
                                   "'does not require num_warmup_steps'"))


def _one_text_encoder_rate(imp: Imported) -> None:
    found = imp.values.get("text_encoder_lr")
    if found is not None and isinstance(found.value, list) and found.value:
        rates = found.value
        how = f"{rates!r} -> {rates[0]!r}: networks.lora reads the first rate (both SDXL text encoders share it)"
        imp.values["text_encoder_lr"] = Value(found.section, found.key, float(rates[0]), found.source,
                                              "; ".join(part for part in (found.how, how) if part))


def _sd_scripts_defaults(imp: Imported) -> None:
    if imp.get("dataset.resolution") is None:
        imp.note("no resolution is set (sd-scripts would stop without one): kohya-wrap's 1024 is used")
    bucketing = imp.get("dataset.enable_bucket", False)
    for key, value in SD_SCRIPTS_DATASET_DEFAULTS.items():
        if imp.get(f"dataset.{key}") is None and (bucketing or key in ("enable_bucket", "caption_extension")):
            imp.values[f"dataset.{key}"] = Value("dataset", key, value, "sd-scripts' default (the source leaves it out)",
                                                 "kohya-wrap's own default differs, so sd-scripts' is written")
