#!/usr/bin/env bash
# A new user's walk-through on the CPU with the real sd-scripts backend: raw images -> data prepare ->
# data check --preset -> train --dry-run -> train -> report -> train --resume JOB max_train_steps=6.
# Writes the transcript (commands and their output) to stdout. Real trainings run under the shared
# flock (/tmp/sdxl-real.lock): each needs ~21 GB RAM with the full-size random SDXL checkpoint.
# Usage: KOHYA_WRAP_SD_SCRIPTS=... KOHYA_WRAP_PYTHON=... bench/walkthrough.sh WORKDIR MODEL
set -u
WORK=${1:?workdir}; MODEL=${2:?model}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
export KOHYA_WRAP_HOME="$WORK/home"  # a fresh registry and runs folder; the shared cache keeps the tokenizers
export KOHYA_WRAP_CACHE="${KOHYA_WRAP_CACHE:-$HOME/.kohya-wrap/cache}"
CPU="dataset.resolution=256 dataset.min_bucket_reso=128 dataset.max_bucket_reso=512 dataset.batch_size=1"
RUN="platform.allow_cpu=true network.network_dim=4 network.network_alpha=4.0 training.max_train_steps=4
 saving.save_every_n_steps=2 saving.save_last_n_steps_state=2 optimizer.lr_scheduler=constant
 optimizer.lr_warmup_steps=0 training.max_data_loader_n_workers=0 ~training.persistent_data_loader_workers"

step() { echo; echo "\$ $*"; "$@" 2>&1; echo "[exit $?]"; }
timed() { local t0=$SECONDS; echo; echo "\$ $*"; "$@" 2>&1; local rc=$?; echo "[exit $rc, $((SECONDS - t0)) s]"; }

echo "\$ python make_raw.py   # 8 small PNGs with a caption each, as a user has them"
python - <<'PY'
from pathlib import Path
from PIL import Image, ImageDraw
raw = Path("raw"); raw.mkdir()
colours = ["red", "blue", "green", "orange", "purple", "teal", "black", "gold"]
for i, colour in enumerate(colours):
    image = Image.new("RGB", (320, 256 if i % 2 else 320), "white")
    draw = ImageDraw.Draw(image)
    shape = ("circle", "square", "triangle")[i % 3]
    if shape == "circle":
        draw.ellipse((60, 40, 260, 220), fill=colour)
    elif shape == "square":
        draw.rectangle((60, 40, 260, 220), fill=colour)
    else:
        draw.polygon([(160, 30), (40, 230), (280, 230)], fill=colour)
    image.save(raw / f"shape{i}.png")
    (raw / f"shape{i}.txt").write_text(f"a {colour} {shape} on a white background, flat colours")
print(sorted(p.name for p in raw.iterdir()))
PY
step kohya-wrap data prepare raw --out data --token shp --class shape --repeats 2
step kohya-wrap data captions "$WORK/data" add-trigger shp
step kohya-wrap data check "$WORK/data" --preset sdxl-style
step kohya-wrap data check "$WORK/data" --preset sdxl-style $CPU
step kohya-wrap train sdxl-style --dataset "$WORK/data" --model "$MODEL" $CPU $RUN --dry-run --gpu 4090
timed flock /tmp/sdxl-real.lock kohya-wrap train sdxl-style --dataset "$WORK/data" --model "$MODEL" $CPU $RUN
JOB=$(ls "$KOHYA_WRAP_HOME/runs" | grep -v -- "-$" | while read j; do [ -f "$KOHYA_WRAP_HOME/runs/$j/train.log" ] && echo "$j"; done | tail -1)
step kohya-wrap report "$JOB"
step kohya-wrap jobs ls
step ls "$KOHYA_WRAP_HOME/runs/$JOB/output"
step kohya-wrap train --resume "$JOB" max_train_steps=6 --dry-run
step kohya-wrap train --resume "$JOB" network.network_dim=8
timed flock /tmp/sdxl-real.lock kohya-wrap train --resume "$JOB" max_train_steps=6
step kohya-wrap jobs show "$JOB"
step ls "$KOHYA_WRAP_HOME/runs/$JOB/output"
