"""Run inside sd-scripts' own Python (cwd = the sd-scripts checkout): build its dataset groups from dataset
TOMLs exactly as train_network.py does, and write what it computed as JSON. No model is loaded.

usage: python sdscripts_probe.py JOBS.json OUT.json
JOBS.json: {"tokenizer_dir": str, "captions": [str], "jobs": [{"toml": str, "runs": [{"max_train_epochs": int|null,
            "max_train_steps": int|null, "gradient_accumulation_steps": int}]}]}
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.getcwd())

from library import config_util, strategy_sdxl, train_util  # noqa: E402


def build_group(toml_path):
    parser = argparse.ArgumentParser()
    train_util.add_dataset_arguments(parser, True, True, True)
    train_util.add_training_arguments(parser, True)
    args = parser.parse_args([])
    train_util.prepare_dataset_args(args, True)
    # train_network.py: BlueprintGenerator(ConfigSanitizer(True, True, args.masked_loss, True))
    sanitizer = config_util.ConfigSanitizer(True, True, False, True)
    blueprint = config_util.BlueprintGenerator(sanitizer).generate(config_util.load_user_config(toml_path), args)
    group, _ = config_util.generate_dataset_group_by_blueprint(blueprint.dataset_group)
    return group, args


def steps(batches, run, default_steps):
    # train_network.py at the pin (num_processes = 1): lines "args.max_train_steps = args.max_train_epochs * ..."
    # and "num_update_steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)".
    accumulation = run["gradient_accumulation_steps"]
    total = run["max_train_steps"] or default_steps
    if run["max_train_epochs"] is not None:
        total = run["max_train_epochs"] * math.ceil(batches / 1 / accumulation)
    per_epoch = math.ceil(batches / accumulation)
    return {"total_steps": total, "epochs": math.ceil(total / per_epoch), "steps_per_epoch": per_epoch}


def describe(job):
    group, args = build_group(job["toml"])
    datasets = []
    for dataset in group.datasets:
        datasets.append({
            "subsets": [{"image_dir": s.image_dir, "img_count": s.img_count, "num_repeats": s.num_repeats,
                         "is_reg": s.is_reg} for s in dataset.subsets],
            "images": {key: {"size": list(info.image_size), "bucket": list(info.bucket_reso),
                             "num_repeats": info.num_repeats, "caption": info.caption}
                       for key, info in dataset.image_data.items()},
            "buckets": [[list(reso), len(bucket)] for reso, bucket in zip(dataset.bucket_manager.resos,
                                                                        dataset.bucket_manager.buckets) if bucket],
        })
    batches = len(group)
    return {"num_train_images": group.num_train_images, "num_reg_images": group.num_reg_images,
            "batches": batches, "datasets": datasets,
            "runs": [steps(batches, run, args.max_train_steps) for run in job["runs"]]}


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    tokenize = strategy_sdxl.SdxlTokenizeStrategy(None, spec["tokenizer_dir"])
    result = {"jobs": [describe(job) for job in spec["jobs"]],
              "tokens": [len(tokenize.tokenizer1.tokenize(text)) for text in spec["captions"]]}
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
