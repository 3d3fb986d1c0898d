#!/usr/bin/env bash
# Capture two real resumes on the CPU with patch 0003 applied (tests/fixtures/sdxl-cpu-run-resume-kept):
#   walk: 4 steps (batch 1, 16 batches an epoch), then `train --resume JOB max_train_steps=6`
#   ga:   6 steps (batch 2, gradient accumulation 2: 4 steps an epoch), then `train --resume JOB max_train_steps=10`
# After each launch it copies the launch's log bytes, events, train_state.json files, TensorBoard files and LoRA
# headers, so that each launch's files survive the next. Real trainings run under the shared flock.
# Usage: [ONLY=walk|ga] KOHYA_WRAP_SD_SCRIPTS=... KOHYA_WRAP_PYTHON=... bench/capture_resume.sh WORKDIR MODEL DATASET
set -eu
WORK=${1:?workdir}; MODEL=${2:?model}; DATA=${3:?prepared dataset}
rm -rf "$WORK" && mkdir -p "$WORK"
export KOHYA_WRAP_HOME="$WORK/home"
export KOHYA_WRAP_CACHE="${KOHYA_WRAP_CACHE:-$HOME/.kohya-wrap/cache}"
COMMON="dataset.resolution=256 dataset.min_bucket_reso=128 dataset.max_bucket_reso=512 platform.allow_cpu=true
 network.network_dim=4 network.network_alpha=4.0 optimizer.lr_scheduler=cosine optimizer.lr_warmup_steps=0
 training.max_data_loader_n_workers=0 ~training.persistent_data_loader_workers"

keep() {  # keep LAUNCH's files of job folder JOB under $WORK/capture/NAME/LAUNCH, from byte START of train.log
  local name=$1 launch=$2 job=$3 start=$4 out="$WORK/capture/$1/$2"
  mkdir -p "$out"
  tail -c +$((start + 1)) "$job/train.log" > "$out/train.log"
  cp "$job/events.jsonl" "$job/args.toml" "$job/dataset.toml" "$out/"
  (cd "$job/output" && ls -1 > "$out/output-files.txt"; for s in *-state; do
     mkdir -p "$out/output/$s"; cp "$s/train_state.json" "$out/output/$s/"; done)
  (cd "$job" && find logs -type f | while read -r f; do mkdir -p "$out/$(dirname "$f")"; cp "$f" "$out/$f"; done)
  "$KOHYA_WRAP_PYTHON" - "$job/output" "$out/output" <<'PY'
import json, struct, sys
from pathlib import Path
for lora in sorted(Path(sys.argv[1]).glob("*.safetensors")):
    with lora.open("rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    Path(sys.argv[2], lora.name + ".header.json").write_text(json.dumps(header, indent=1, sort_keys=True))
PY
}

run() {  # NAME STEPS_TOTAL_AFTER_RESUME OVERRIDES...
  local name=$1 more=$2; shift 2
  echo "== $name: first launch"
  flock /tmp/sdxl-real.lock kohya-wrap train sdxl-style --name "$name" --dataset "$DATA" --model "$MODEL" $COMMON "$@"
  local job; job=$(ls -d "$KOHYA_WRAP_HOME/runs/"*-"$name"-* | tail -1)
  keep "$name" launch1 "$job" 0
  local start; start=$(stat -c %s "$job/train.log")
  echo "== $name: resume to $more steps"
  kohya-wrap train --resume "$(basename "$job")" max_train_steps="$more" --dry-run
  flock /tmp/sdxl-real.lock kohya-wrap train --resume "$(basename "$job")" max_train_steps="$more"
  keep "$name" launch2 "$job" "$start"
  kohya-wrap jobs show "$(basename "$job")"
  ls -R "$job/output" "$job/attempts"
}

ONLY=${ONLY:-walk ga}  # ONLY=ga captures one of them
[[ " $ONLY " == *" walk "* ]] && run walk 6 dataset.batch_size=1 training.max_train_steps=4 saving.save_every_n_steps=2 saving.save_last_n_steps_state=2
[[ " $ONLY " == *" ga "* ]] && run ga 10 dataset.batch_size=2 training.gradient_accumulation_steps=2 training.max_train_steps=6 \
  saving.save_every_n_steps=3
