"""The pure-Python TensorBoard reader gives exactly what TensorBoard's EventAccumulator read from the real files."""

from __future__ import annotations

import json
import struct

import pytest

from kohya_wrap.logs.parse import parse_files
from kohya_wrap.logs.tensorboard import TensorBoardError, event_files, read_scalars, with_tensorboard

from .conftest import RUNS, log_paths


def expected(folder) -> dict:
    data = json.loads((folder / "expected_scalars.json").read_text())
    files = {data["event_file"]: data["scalars"]} if "event_file" in data else {
        name: entry["scalars"] for name, entry in data["event_files"].items()}
    (only,) = files.values()
    return only


@pytest.mark.parametrize("name", ["main", "attempt1", "simple", "resume", "resume_skip"])
def test_every_point_equals_event_accumulator(name):
    folder = RUNS[name][2]
    got: dict = {}
    for point in read_scalars(folder):
        got.setdefault(point.tag, []).append({"step": point.step, "value": point.value, "wall_time": point.wall_time})
    assert got == expected(folder)


def test_gradient_accumulation_keeps_both_points_of_a_step():
    points = [p for p in read_scalars(RUNS["simple"][2]) if p.tag == "loss/current"]
    assert [p.step for p in points] == [0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10]
    epochs = [(p.step, round(p.value, 6)) for p in read_scalars(RUNS["simple"][2]) if p.tag == "loss/epoch_average"]
    assert epochs == [(1, 1.087772), (2, 1.087484)]  # x-axis: the epoch


def test_run_names_the_event_file_folder():
    (point, *_) = read_scalars(RUNS["main"][2])
    assert point.run == "shape_lora_20261121082350/network_train"
    assert read_scalars(event_files(RUNS["main"][2])[0])[0] == point.__class__(**{**point.__dict__, "run": ""})


def test_a_file_still_being_written_yields_its_complete_records(tmp_path):
    data = event_files(RUNS["main"][2])[0].read_bytes()
    whole = read_scalars(RUNS["main"][2])
    cut = tmp_path / "events.out.tfevents.1.cut"
    cut.write_bytes(data[:-7])  # the last record lost its end
    assert [p.value for p in read_scalars(cut)] == [p.value for p in whole[:-1]]


def test_a_damaged_record_is_an_error(tmp_path):
    data = bytearray(event_files(RUNS["main"][2])[0].read_bytes())
    data[200] ^= 0x01
    bad = tmp_path / "events.out.tfevents.1.bad"
    bad.write_bytes(bytes(data))
    with pytest.raises(TensorBoardError, match="checksum"):
        read_scalars(bad)


def test_tensor_encoded_scalars_written_by_tensorboards_own_protos(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path))
    tensors = [("float_val", tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.5])),
               ("double_val", tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[2.25])),
               ("int_val", tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[-7])),
               ("int64_val", tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, int64_val=[1 << 40])),
               ("content", tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=struct.pack("<f", 0.1))),
               ("two_values", tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0])),
               ("text", tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"]))]
    for step, (tag, tensor) in enumerate(tensors):
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        writer.add_event(event_pb2.Event(wall_time=100.5 + step, step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    got = [(p.tag, p.step, p.value, p.wall_time) for p in read_scalars(tmp_path)]
    assert got == [("float_val", 0, 1.5, 100.5), ("double_val", 1, 2.25, 101.5), ("int_val", 2, -7.0, 102.5),
                   ("int64_val", 3, float(1 << 40), 103.5), ("content", 4, struct.unpack("<f", struct.pack("<f", 0.1))[0],
                                                            104.5)]


def test_with_tensorboard_gives_step_events_the_exact_values_shifted_for_a_resume():
    events = with_tensorboard(parse_files(log_paths("resume")), read_scalars(RUNS["resume"][2]))
    steps = {e.get("step"): e for e in events if e.type == "step"}
    # TensorBoard's steps restart at 0 after the resume; step 11 is its step 1, whose last point is the second
    assert steps[11].get("loss") == pytest.approx(1.0742841958999634, abs=0)
    assert steps[11].get("avr_loss") == pytest.approx(1.0754495859146118, abs=0)
    assert steps[15].get("lr") == pytest.approx(9.999999747378752e-05, abs=0)
