"""Run inside the backend's Python: feed rendered files to sd-scripts' own checks; print one JSON line.

usage: python sd_scripts_accepts.py SD_SCRIPTS_ROOT ARGS_TOML
"""

import json
import os
import sys

root, args_toml = sys.argv[1], sys.argv[2]
# read_config_from_file re-parses sys.argv: make it look like the real launch.
sys.argv = ["sdxl_train_network.py", "--config_file", args_toml]
os.chdir(root)
sys.path.insert(0, root)

import sdxl_train_network  # noqa: E402
from library import config_util, sdxl_train_util, train_util  # noqa: E402

parser = sdxl_train_network.setup_parser()
args = parser.parse_args()
train_util.verify_command_line_training_args(args)
args = train_util.read_config_from_file(args, parser)
train_util.verify_training_args(args)
train_util.prepare_dataset_args(args, True)
sdxl_train_util.verify_sdxl_training_args(args, support_text_encoder_caching=True)
user_config = config_util.load_user_config(args.dataset_config)
sanitizer = config_util.ConfigSanitizer(True, True, args.masked_loss, True)
blueprint = config_util.BlueprintGenerator(sanitizer).generate(user_config, args)
datasets = blueprint.dataset_group.datasets
print(json.dumps({
    "resolution": list(args.resolution),
    "network_dim": args.network_dim,
    "learning_rate": args.learning_rate,
    "datasets": len(datasets),
    "subsets": [{"image_dir": s.params.image_dir, "num_repeats": s.params.num_repeats, "is_reg": s.params.is_reg,
                 "caption_extension": s.params.caption_extension} for d in datasets for s in d.subsets],
    "dataset_resolution": list(datasets[0].params.resolution),
    "batch_size": datasets[0].params.batch_size,
}))
