"""Run inside the backend's Python: tests/backend_checks/sd_scripts_accepts.py on many args.toml files in one
process (sd-scripts' imports are paid once), then the SDXL trainer's own assert_extra_args on the dataset group it
builds (bucket steps divisible by 32, text-encoder caching rules). One JSON line per file, {"error": ...} when
sd-scripts refuses it.

usage: python backend_loop.py CHECK_SCRIPT SD_SCRIPTS_ROOT ARGS_TOML...
"""

import contextlib
import io
import json
import runpy
import sys
import traceback

check, root, files = sys.argv[1], sys.argv[2], sys.argv[3:]
for args_toml in files:
    sys.argv = [check, root, args_toml]
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            done = runpy.run_path(check, run_name="__main__")
            group, _validation = done["config_util"].generate_dataset_group_by_blueprint(done["blueprint"].dataset_group)
            done["sdxl_train_network"].SdxlNetworkTrainer().assert_extra_args(done["args"], group, None)
        lines = captured.getvalue().strip().splitlines()
        print(json.dumps({"file": args_toml, "seen": json.loads(lines[-1])}), flush=True)
    except BaseException as error:  # SystemExit from sd-scripts' own checks included: reported, never hidden
        print(json.dumps({"file": args_toml, "error": f"{type(error).__name__}: {error}",
                          "trace": traceback.format_exc()[-2000:]}), flush=True)
