"""Hostile names and values: one name rule, numbers in sane ranges, and every rendered value read back
unchanged by sd-scripts' own TOML reader (toml 0.10.2), or refused with a clear message."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from kohya_wrap.config.render import JobPaths, render_args_toml, render_dataset_toml, render_job_toml
from kohya_wrap.config.resolve import resolve
from kohya_wrap.errors import ConfigError, KohyaWrapError
from kohya_wrap.tomlcompat import loads

toml = pytest.importorskip("toml")  # sd-scripts' reader, pinned to the version its requirements install

HOSTILE_NAMES = ["../../../escaped_lora", "/abs/escaped", "a/b", "a\\b", "..", ".hidden", "-flag", "", "x" * 101,
                 "a\x00b", "bell\x07", "\x1b[31mred"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n[:12]) for n in HOSTILE_NAMES])
def test_hostile_name_is_refused_before_any_folder(fault, make_job, name, runs):
    fault("hostile", f"--name {name[:20]!r}")
    with pytest.raises(KohyaWrapError) as caught:
        make_job(name)
    fault.saw(caught.value.message)
    assert "--name" in caught.value.message and list(runs.iterdir()) == []


@pytest.mark.parametrize("value", ['"a\\u0000b"', '""', '"' + "x" * 100_000 + '"', '"../out"', '"a b"'],
                         ids=["NUL", "empty", "100k", "traversal", "space"])
def test_hostile_output_name_is_refused(fault, value):
    fault("hostile", f"saving.output_name={value[:12]}")
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", [f"saving.output_name={value}"])
    fault.saw(caught.value.issues[0].problem)
    assert caught.value.issues[0].key == "saving.output_name"


def test_a_safe_name_keeps_the_lora_inside_the_job(fault, make_job):
    fault("hostile", "a derived name keeps the rule (folder id and output_name agree)")
    job = make_job("ok_name-1.0")
    args = loads((job / "args.toml").read_text())
    assert args["saving"]["output_name"] == "shape_lora" and job.name.split("-")[2:-1] == ["ok_name", "1.0"]


NUMBERS = {"optimizer.learning_rate=nan": "not a finite", "optimizer.learning_rate=inf": "not a finite",
           "optimizer.learning_rate=-1": "out of range", "optimizer.learning_rate=0": "out of range",
           "network.network_dim=-8": "out of range", "network.network_dim=0": "out of range",
           "training.max_train_steps=-5": "out of range", "dataset.resolution=1e9": "out of range",
           "dataset.resolution=[1024, 100000]": "out of range", "launch.grace_seconds=inf": "not a finite",
           "launch.grace_seconds=100000": "out of range", "limits.max_cost_usd=nan": "not a finite",
           "limits.max_hours=-1": "", "training.noise_offset=5": "out of range",
           "network.network_args=[\"--x\"]": "KEY=VALUE", "network.network_args=[\"conv_dim\"]": "KEY=VALUE"}


@pytest.mark.parametrize("override", list(NUMBERS))
def test_out_of_range_values_are_refused(fault, override):
    fault("hostile", override)
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", [override])
    fault.saw(caught.value.issues[0].line())
    assert NUMBERS[override] in caught.value.render() and override.split("=")[0] in caught.value.render()


def test_sane_values_still_pass(fault):
    fault("hostile", "sane values pass (no false refusals)")
    resolve("sdxl-style", ["optimizer.learning_rate=1e-4", "network.network_dim=128", "dataset.resolution=[832, 1216]",
                           'network.network_args=["conv_dim=4", "block_dims=2,4,4,8"]', "launch.grace_seconds=120"])


def hostile_strings(count: int, seed: int) -> list[str]:
    """Strings built from what breaks TOML readers: quotes, backslashes, \\u, control characters, commas."""
    rnd = random.Random(seed)
    pieces = ['"', "'", "\\", "\\u", "\\U", "\\n", ",", "[", "]", "{", "}", "=", "#", " ", "\t", "\n", "\r", "\x00",
              "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\U0001F600", "é", "a", "0", "x", "u0041", "$"]
    return ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 10))) for _ in range(count)]


def check_against_sd_scripts_reader(strings, tmp_path) -> dict:
    """Each string as a scalar value, a list item and a dataset path: refused at resolve or at render, or
    rendered into args.toml / dataset.toml that toml 0.10.2 reads exactly as tomllib does."""
    counts = {"refused": 0, "identical": 0, "differs": []}
    paths = JobPaths(root=tmp_path, tokenizer_cache=tmp_path / "tok")
    for text in strings:
        value = json.dumps(text)  # a TOML basic string for the override
        for override in (f"model.vae={value}", f"network.network_args=[\"a=1\", {value}]",
                         f"dataset.class_tokens={value}"):
            try:
                config = resolve("sdxl-style", [override])
                rendered = [render_args_toml(config, paths, "job"),
                            render_dataset_toml(config, [{"image_dir": f"/d/{text}", "num_repeats": 1}])]
            except ConfigError:
                counts["refused"] += 1
                continue
            for document in rendered:
                try:
                    same = toml.loads(document) == loads(document)
                except Exception as error:  # noqa: BLE001 - any failure of the trainer's reader counts
                    same = False
                    document += f"\n# toml 0.10.2: {error}"
                if not same:
                    counts["differs"].append((text, document[-300:]))
            counts["identical"] += 1
    return counts


def test_two_thousand_hostile_strings_read_back_identically_or_are_refused(fault, tmp_path):
    fault("hostile", "2,000 fuzzed strings x 3 places through sd-scripts' TOML reader")
    counts = check_against_sd_scripts_reader(hostile_strings(2000, seed=11), tmp_path)
    fault.saw(f"{counts['identical']} rendered and read back identically, {counts['refused']} refused, "
              f"{len(counts['differs'])} misread")
    assert counts["differs"] == []
    assert counts["identical"] > 1000 and counts["refused"] > 100  # both paths are exercised


def test_the_example_from_the_issue_is_refused(fault):
    fault("hostile", 'model.vae="\\u0001\\\\u" (passed validation, unreadable for the trainer)')
    with pytest.raises(ConfigError) as caught:
        resolve("sdxl-style", ['model.vae="\\u0001\\\\u"'])
    fault.saw(caught.value.issues[0].problem)
    assert "control character U+0001" in caught.value.render()


def test_a_newline_in_a_preset_path_cannot_inject_toml_into_job_toml(fault, tmp_path):
    fault("hostile", "newline in a preset path (job.toml provenance comments)")
    folder = tmp_path / "evil\n[training]\nmax_train_steps = 1\n#"
    folder.mkdir()
    preset = folder / "p.toml"
    shutil.copy(resolve("sdxl-style").preset_path, preset)
    config = resolve(str(preset))
    text = render_job_toml(config)
    fault.saw(text.splitlines()[0][:120])
    assert loads(text) == config.requested
    assert all(line.startswith("#") or not line.startswith("max_train_steps = 1") for line in text.splitlines())
    assert loads(text)["training"]["max_train_steps"] == config.requested["training"]["max_train_steps"] != 1


def test_file_names_with_terminal_escapes_are_never_printed_raw(fault, cli, runs, make_job):
    fault("hostile", "a job folder name with terminal escape codes (registry rebuild, jobs ls)")
    from tests.registry.conftest import bare_job

    evil = bare_job(runs, "20260101-000000-\x1b]0;pwned\x07\x1b[2J-0001")
    (evil / "summary.json").write_text("[]")
    make_job("plain")
    rebuilt = cli("registry", "rebuild")
    listed = cli("jobs", "ls")
    fault.saw(rebuilt.output.strip().splitlines()[-1][:120])
    for result in (rebuilt, listed):
        assert result.exit_code == 0 and "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;pwned\\x07" in listed.output
