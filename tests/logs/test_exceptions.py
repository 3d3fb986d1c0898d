"""Diagnosis is general: tracebacks of other shapes than the captured ones name their cause and sd-scripts frame."""

from __future__ import annotations

import pytest

from kohya_wrap.logs.exceptions import english_half, named_paths
from kohya_wrap.logs.parse import LogParser

TB = "Traceback (most recent call last):"
ECHO = "\n".join([
    TB,
    '  File "/venv/bin/accelerate", line 8, in <module>',
    "    sys.exit(main())",
    '  File "/venv/lib/python3.10/site-packages/accelerate/commands/launch.py", line 795, in simple_launcher',
    "    raise subprocess.CalledProcessError(returncode=process.returncode, cmd=cmd)",
    "subprocess.CalledProcessError: Command '['/venv/bin/python', 'sdxl_train_network.py']' returned non-zero "
    "exit status 1.",
])


def frame(file: str, line: int, function: str, code: str = "pass") -> str:
    return f'  File "{file}", line {line}, in {function}\n    {code}'


def block(frames: list[str], exception: str) -> str:
    return "\n".join([TB, *frames, exception])


def errors(text: str) -> list[dict]:
    parser = LogParser()
    events = parser.feed(text.encode()) + parser.finish()
    return [e.to_dict() for e in events if e.type == "error"]


def only_error(text: str) -> dict:
    found = errors(text + "\n" + ECHO + "\n")
    assert len(found) == 1, found  # accelerate's echo never adds a second error
    return found[0]


def test_during_handling_keeps_the_earlier_exception_that_names_the_cause():
    root = "/opt/kohya_ss/sd-scripts"
    first = block([frame(f"{root}/sdxl_train_network.py", 234, "<module>", "trainer.train(args)"),
                   frame(f"{root}/library/train_util.py", 1200, "__getitem__", "info = self.image_data[key]")],
                  "KeyError: 'img_0001'")
    second = block([frame(f"{root}/sdxl_train_network.py", 234, "<module>"),
                    frame(f"{root}/library/custom_helper.py", 10, "recover", 'raise RuntimeError("gave up")')],
                   "RuntimeError: gave up")
    text = first + "\n\nDuring handling of the above exception, another exception occurred:\n\n" + second
    error = only_error(text)
    assert error["kind"] == "bad_dataset" and error["exception"] == "KeyError"
    assert error["frame"] == "library/train_util.py:1200 in __getitem__" and "img_0001" in error["message"]


def test_raise_from_names_the_final_exception_and_skips_a_venv_inside_the_checkout():
    root = "/work/sd-scripts"
    cause = block([frame(f"{root}/library/sdxl_model_util.py", 300, "load_models_from_sdxl_checkpoint"),
                   frame(f"{root}/venv/lib/python3.10/site-packages/safetensors/torch.py", 311, "load_file")],
                  "safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge")
    final = block([frame(f"{root}/sdxl_train_network.py", 234, "<module>"),
                   frame(f"{root}/library/sdxl_model_util.py", 310, "load_models_from_sdxl_checkpoint",
                         'raise RuntimeError(f"cannot load {path}") from e')],
                  "RuntimeError: cannot load /models/sdxl.safetensors")
    text = cause + "\n\nThe above exception was the direct cause of the following exception:\n\n" + final
    error = only_error(text)
    assert (error["kind"], error["exception"]) == ("bad_model", "RuntimeError")
    assert error["frame"] == "library/sdxl_model_util.py:310 in load_models_from_sdxl_checkpoint"
    assert error["path"] == "/models/sdxl.safetensors" and "re-download" in error["hint"]


def test_a_runtime_error_in_torch_names_the_innermost_sd_scripts_frame_on_windows():
    root = r"C:\kohya\sd-scripts"
    text = block([frame(rf"{root}\sdxl_train_network.py", 234, "<module>"),
                  frame(rf"{root}\train_network.py", 1400, "train", "noise_pred = self.call_unet(...)"),
                  frame(rf"{root}\library\sdxl_original_unet.py", 1100, "forward", "h = module(h, emb, context)"),
                  frame(r"C:\kohya\venv\Lib\site-packages\torch\nn\modules\module.py", 1511, "_call_impl"),
                  frame(r"C:\kohya\venv\Lib\site-packages\torch\nn\functional.py", 2000, "linear")],
                 "RuntimeError: mat1 and mat2 shapes cannot be multiplied (77x2048 and 768x320)")
    error = only_error(text)
    assert error["kind"] == "trainer_error" and "mat1 and mat2 shapes" in error["message"]
    assert error["frame"] == "library/sdxl_original_unet.py:1100 in forward"
    assert "library/sdxl_original_unet.py:1100 in forward" in error["hint"]


@pytest.mark.parametrize("inner, kind", [("KeyError: 'some_image'", "bad_dataset"),
                                         ("OSError: image file is truncated (12 bytes not processed)", "corrupt_image")])
def test_a_dataloader_worker_failure_is_read_from_its_original_traceback(inner, kind):
    root = "/sd"
    exception_type = inner.split(":", 1)[0]
    text = "\n".join([
        block([frame(f"{root}/sdxl_train_network.py", 234, "<module>"),
               frame(f"{root}/train_network.py", 1300, "train", "for step, batch in enumerate(train_dataloader):"),
               frame("/usr/lib/python3/dist-packages/torch/utils/data/dataloader.py", 1480, "_next_data")],
              f"{exception_type}: Caught {exception_type} in DataLoader worker process 0."),
        "Original Traceback (most recent call last):",
        frame("/usr/lib/python3/dist-packages/torch/utils/data/_utils/worker.py", 309, "_worker_loop"),
        frame(f"{root}/library/train_util.py", 1400, "__getitem__", "image_info = self.image_data[image_key]"),
        inner])
    error = only_error(text)
    assert error["kind"] == kind and error["frame"] == "library/train_util.py:1400 in __getitem__"
    assert inner.split(": ", 1)[1] in error["message"]


def test_a_type_error_deep_in_sampling_is_a_sampling_failure():
    root = "/home/u/sd-scripts"
    text = block([frame(f"{root}/sdxl_train_network.py", 234, "<module>"),
                  frame(f"{root}/library/train_util.py", 6400, "sample_images_common"),
                  frame(f"{root}/library/train_util.py", 6560, "sample_image_inference", "latents = pipeline("),
                  frame(f"{root}/library/sdxl_lpw_stable_diffusion.py", 1100, "__call__"),
                  frame("/home/u/.local/lib/python3.10/site-packages/diffusers/schedulers/x.py", 40, "step")],
                 "TypeError: unsupported operand type(s) for *: 'NoneType' and 'float'")
    error = only_error(text)
    assert error["kind"] == "sampling_failed" and "NoneType" in error["message"]
    assert error["frame"] == "library/sdxl_lpw_stable_diffusion.py:1100 in __call__"
    assert "sample" in error["hint"]


def test_an_error_logged_before_a_bare_reraise_names_the_file():
    root = "/sd"
    text = "\n".join([
        "Error loading file: /data/img/10_cat/broken.webp",
        block([frame(f"{root}/sdxl_train_network.py", 234, "<module>"),
               frame(f"{root}/library/train_util.py", 2960, "load_image", "raise e"),
               frame("/venv/lib/python3.10/site-packages/PIL/Image.py", 3500, "open")],
              "PIL.UnidentifiedImageError: cannot identify image file <_io.BufferedReader name=3>")])
    error = only_error(text)
    assert error["kind"] == "corrupt_image" and error["path"] == "/data/img/10_cat/broken.webp"
    assert "/data/img/10_cat/broken.webp" in error["hint"]


def test_a_bilingual_assert_of_another_commit_is_matched_by_its_message():
    """The line moved (another commit), the English message is sd-scripts' own: the site's kind still applies."""
    text = block([frame("/x/sdxl_train_network.py", 300, "<module>"),
                  frame("/x/library/train_util.py", 9999, "some_renamed_check")],
                 "ValueError: scale_v_pred_loss_like_noise_pred can be enabled only with v_parameterization / "
                 "scale_v_pred_loss_like_noise_predはv_parameterizationが有効なときのみ有効にできます")
    error = only_error(text)
    assert error["kind"] == "bad_arg"
    assert error["message"] == ("ValueError: scale_v_pred_loss_like_noise_pred can be enabled only with "
                                "v_parameterization")
    assert "scale_v_pred_loss_like_noise_pred, v_parameterization" in error["hint"]


def test_a_trainer_that_exits_without_an_exception_is_unknown_and_the_hint_quotes_its_last_lines():
    text = "prepare optimizer, data loader etc.\nsomething odd happened here\n" + ECHO + "\n"
    [error] = errors(text)
    assert error["kind"] == "unknown" and "status 1 without raising an exception" in error["message"]
    assert "something odd happened here" in error["hint"] and error["tail"][-1] == "something odd happened here"


@pytest.mark.parametrize("signal, kind", [("SIGSEGV", "native_crash"), ("SIGKILL", "killed")])
def test_a_trainer_killed_by_a_signal(signal, kind):
    echo = ECHO.replace("returned non-zero exit status 1.", f"died with <Signals.{signal}: 11>.")
    [error] = errors("caching latents.\n" + echo + "\n")
    assert error["kind"] == kind and signal in error["message"]


def test_the_launcher_cannot_find_accelerate():
    line = ("/opt/py/bin/python3: Error while finding module specification for 'accelerate.commands.launch' "
            "(ModuleNotFoundError: No module named 'accelerate')\n")
    [error] = errors(line)
    assert error["kind"] == "backend_import" and "/opt/py/bin/python3 -m pip install accelerate" in error["hint"]


@pytest.mark.parametrize("message, english", [
    ("caption file is empty / キャプションファイルが空です: /d/a.txt", "caption file is empty: /d/a.txt"),
    ("No data found. Please verify arguments / 画像がありません。引数指定を確認してください", "No data found. Please verify arguments"),
    ("resolution is required / resolution（解像度）指定は必須です", "resolution is required"),
    ("a / b plain English", "a / b plain English"),
])
def test_english_half(message, english):
    assert english_half(message) == english


def test_named_paths():
    assert named_paths("[Errno 2] No such file or directory: '/tmp/x y/z.png'") == ["/tmp/x y/z.png"]
    assert named_paths(r"cannot open C:\data\img\a.png now") == [r"C:\data\img\a.png"]
    assert named_paths("see https://huggingface.co/models for /a/b.") == ["/a/b"]


def test_an_exception_python_ignored_at_exit_is_a_warning_not_the_failure():
    text = "\n".join(["model saved.", "Exception ignored in: <function _MultiProcessingDataLoaderIter.__del__>",
                      block([frame("/venv/lib/python3.10/site-packages/torch/utils/data/dataloader.py", 1477,
                                   "__del__")], "AttributeError: 'NoneType' object has no attribute 'python_exit_status'"),
                      ""])
    parser = LogParser()
    events = [e.to_dict() for e in parser.feed(text.encode()) + parser.finish()]
    assert not [e for e in events if e["type"] == "error"]
    [warning] = [e for e in events if e["type"] == "warning"]
    assert warning["kind"] == "ignored_exception" and "python_exit_status" in warning["message"]
