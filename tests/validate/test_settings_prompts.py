"""Generation settings, sampler names and where validate's prompts come from (no torch needed)."""

from __future__ import annotations

import json

import pytest

from kohya_wrap.artifacts.jobinfo import job_facts
from kohya_wrap.errors import KohyaWrapError
from kohya_wrap.validate.prompts import (caption_prompts, default_prompts, job_sample_prompts, parse_prompt_line,
                                         read_prompts_file)
from kohya_wrap.validate.settings import (SAMPLERS, GenerationSettings, Prompt, ValidationPlan, parse_numbers,
                                          parse_size, sampler_name)
from tests.validate.conftest import write_job


@pytest.fixture
def job(tmp_path):
    folder = tmp_path / "job"
    write_job(folder, tmp_path / "base")
    return folder


@pytest.mark.parametrize("given, expected", [("Euler", "euler"), ("k_euler_a", "euler_a"), ("DPM++ 2M Karras",
                         "dpmpp_2m_karras"), ("euler-ancestral", "euler_a"), ("uni_pc", "unipc"), ("ddim", "ddim")])
def test_sampler_names_and_aliases(given, expected):
    assert sampler_name(given) == expected


def test_an_unknown_sampler_names_the_known_ones():
    with pytest.raises(KohyaWrapError) as caught:
        sampler_name("warp_drive")
    assert "dpmpp_2m" in caught.value.hint


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # diffusers 0.32's schedulers on numpy 2
def test_every_sampler_is_a_diffusers_scheduler():
    diffusers = pytest.importorskip("diffusers")
    for class_name, overrides in SAMPLERS.values():
        scheduler_class = getattr(diffusers, class_name)
        scheduler = scheduler_class.from_config({"num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
                                                 "beta_start": 0.00085, "beta_end": 0.012}, **overrides)
        assert all(scheduler.config[key] == value for key, value in overrides.items())


def test_bad_settings_are_reported_together():
    with pytest.raises(KohyaWrapError) as caught:
        GenerationSettings(width=100, height=32, steps=0)
    message = str(caught.value)
    assert "width 100" in message and "height 32" in message and "steps 0" in message


def test_sizes_and_number_lists():
    assert parse_size("1024") == (1024, 1024)
    assert parse_size("832x1216") == (832, 1216)
    assert parse_numbers("1, 2,2,3", int, "seeds") == [1, 2, 3]
    assert parse_numbers("0,0.5,1", float, "strengths") == [0.0, 0.5, 1.0]
    with pytest.raises(KohyaWrapError):
        parse_size("big")
    with pytest.raises(KohyaWrapError):
        parse_numbers("1,x", int, "seeds")


def test_a_plan_needs_prompts_seeds_and_non_negative_strengths():
    with pytest.raises(KohyaWrapError):
        ValidationPlan(prompts=[], seeds=[1], strengths=[1.0])
    with pytest.raises(KohyaWrapError):
        ValidationPlan(prompts=[Prompt("x")], seeds=[1], strengths=[-0.5])


def test_sd_scripts_prompt_lines():
    assert parse_prompt_line("a cat --n blurry, lowres --w 512 --h 512 --d 3") == Prompt("a cat", "blurry, lowres")
    assert parse_prompt_line("# a comment") is None
    assert parse_prompt_line("   ") is None


def test_prompt_files_in_txt_toml_and_json(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("one --n bad\n\n# skip\ntwo\n")
    toml = tmp_path / "p.toml"
    toml.write_text('[prompt]\nnegative_prompt = "ugly"\n[[prompt.subset]]\nprompt = "three"\n'
                    '[[prompt.subset]]\nprompt = "four"\nnegative_prompt = "dark"\n')
    js = tmp_path / "p.json"
    js.write_text(json.dumps([{"prompt": "five", "negative_prompt": "x"}, "six"]))
    assert read_prompts_file(txt) == [Prompt("one", "bad"), Prompt("two")]
    assert read_prompts_file(toml) == [Prompt("three", "ugly"), Prompt("four", "dark")]
    assert read_prompts_file(js) == [Prompt("five", "x"), Prompt("six")]


def test_default_prompts_are_the_jobs_sample_prompts(job):
    prompts, source = default_prompts(job_facts(job))
    assert source == "the job's sample prompts"
    assert prompts == [Prompt("shape, a red circle", "blurry, lowres"), Prompt("shape, a blue square on white")]


def test_sample_prompts_are_found_in_a_moved_job_folder(job, tmp_path):
    moved = tmp_path / "moved"
    job.rename(moved)
    assert [p.text for p in job_sample_prompts(job_facts(moved))][0] == "shape, a red circle"


def test_without_sample_prompts_captions_and_the_trigger_word_are_used(job):
    (job / "sample_prompts.txt").unlink()
    caption = job / "data" / "3_shape" / "1.txt"
    caption.write_text("a green square")  # no trigger word: it is added
    prompts, source = default_prompts(job_facts(job))
    assert source == "the job's captions and trigger word"
    assert [p.text for p in prompts] == ["shape, a red circle", "shape, a yellow triangle"]
    assert [p.text for p in caption_prompts(job_facts(job), count=3)][1] == "shape, a green square"


def test_no_prompts_anywhere_is_a_clear_error(job):
    (job / "sample_prompts.txt").unlink()
    for caption in (job / "data" / "3_shape").glob("*.txt"):
        caption.unlink()
    (job / "dataset.toml").write_text((job / "dataset.toml").read_text().replace('class_tokens = "shape"\n', ""))
    with pytest.raises(KohyaWrapError) as caught:
        default_prompts(job_facts(job))
    assert "--prompt" in caught.value.hint
