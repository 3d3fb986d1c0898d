"""Read TensorBoard scalars with no tensorflow/tensorboard install: TFRecord framing plus a minimal protobuf decoder."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from kohya_wrap.errors import KohyaWrapError

EVENT_GLOB = "events.out.tfevents.*"


class TensorBoardError(KohyaWrapError):
    """An event file is damaged (a checksum does not match)."""


@dataclass(frozen=True)
class Scalar:
    tag: str
    step: int
    value: float
    wall_time: float
    run: str = ""  # the event file's folder, relative to the logdir


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(data: bytes, name: str = "") -> Iterator[bytes]:
    """TFRecord payloads: u64 length, u32 masked crc of the length, payload, u32 masked crc of the payload.
    A record cut short at the end (the writer is still at it) ends the iteration."""
    pos = 0
    while pos + 12 <= len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        end = pos + 12 + length + 4
        if end > len(data):
            return
        payload = data[pos + 12:pos + 12 + length]
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        (payload_crc,) = struct.unpack("<I", data[end - 4:end])
        if header_crc != masked_crc32c(header) or payload_crc != masked_crc32c(payload):
            raise TensorBoardError(f"{name or 'event file'}: damaged record at byte {pos} (checksum mismatch)",
                                   hint="the file was changed or cut in the middle; read a copy without the damage")
        yield payload
        pos = end


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one protobuf message; varints as int, the rest as bytes."""
    pos, size = 0, len(buf)
    while pos < size:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


# TensorProto dtypes that can hold a scalar: DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_HALF
_FORMATS = {1: "<f", 2: "<d", 3: "<i", 9: "<q", 19: "<e"}
_VALUE_FIELDS = {5: "<f", 6: "<d", 7: None, 10: None, 13: "half"}  # float_val, double_val, int_val, int64_val, half_val


def _tensor_scalar(buf: bytes) -> float | None:
    """A one-element numeric TensorProto as a float; None for anything else (histograms, text, images)."""
    dtype, content, values = 1, None, []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype = value
        elif number == 4:
            content = value
        elif number in _VALUE_FIELDS:
            values.append((number, wire, value))
    fmt = _FORMATS.get(dtype)
    if fmt is None:
        return None
    if content:
        return float(struct.unpack(fmt, content)[0]) if len(content) == struct.calcsize(fmt) else None
    if len(values) != 1:
        return None
    number, wire, value = values[0]
    kind = _VALUE_FIELDS[number]
    if kind in ("<f", "<d"):
        return float(struct.unpack(kind, value)[0]) if len(value) == struct.calcsize(kind) else None
    if wire == 2:  # packed repeated varints
        value, end = _varint(value, 0)
    if kind == "half":
        return float(struct.unpack("<e", struct.pack("<H", value & 0xFFFF))[0])
    return float(value - (1 << 64) if value >= 1 << 63 else value)


def _summary_values(buf: bytes) -> Iterator[tuple[str, float]]:
    for number, _, value in _fields(buf):
        if number != 1:
            continue
        tag, scalar = None, None
        for field_number, _, item in _fields(value):
            if field_number == 1:
                tag = item.decode("utf-8", "replace")
            elif field_number == 2:
                scalar = float(struct.unpack("<f", item)[0])
            elif field_number == 8:
                scalar = _tensor_scalar(item)
        if tag is not None and scalar is not None:
            yield tag, scalar


def scalars_in_file(path: Path, run: str = "") -> list[Scalar]:
    """Every scalar of one event file, in write order (repeated steps kept)."""
    points = []
    for payload in records(Path(path).read_bytes(), str(path)):
        wall_time, step, summary = 0.0, 0, None
        for number, _, value in _fields(payload):
            if number == 1:
                wall_time = struct.unpack("<d", value)[0]
            elif number == 2:
                step = value - (1 << 64) if value >= 1 << 63 else value
            elif number == 5:
                summary = value
        if summary is not None:
            points.extend(Scalar(tag, step, v, wall_time, run) for tag, v in _summary_values(summary))
    return points


def event_files(logdir: Path) -> list[Path]:
    logdir = Path(logdir)
    if logdir.is_file():
        return [logdir]
    return sorted(logdir.rglob(EVENT_GLOB), key=lambda p: (str(p.parent), p.name))


def read_scalars(logdir: Path) -> list[Scalar]:
    """All scalar points under logdir (or of one event file), file by file in write order; never keyed by step:
    with gradient accumulation most steps appear twice. `loss/epoch_average`'s step is the epoch number."""
    logdir = Path(logdir)
    base = logdir if logdir.is_dir() else logdir.parent
    points: list[Scalar] = []
    for path in event_files(logdir):
        run = str(path.parent.relative_to(base)) if path.parent != base else ""
        points.extend(scalars_in_file(path, run))
    return points


def with_tensorboard(events: list, points: list[Scalar]) -> list:
    """Step events with TensorBoard's exact values: loss (loss/current), avr_loss (loss/average) and lr (lr/unet,
    else the first lr/* tag), each the last point logged at that step (a step's last micro-batch). A resumed run's
    TensorBoard restarts at 0, so its steps are shifted by the `resumed` event's step_offset."""
    from kohya_wrap.job.events import Event

    offset = next((e.get("step_offset") or 0 for e in reversed(events) if e.type == "resumed"), 0)
    lr_tag = "lr/unet" if any(p.tag == "lr/unet" for p in points) else next(
        (p.tag for p in points if p.tag.startswith("lr/")), None)
    last: dict[tuple[str, int], float] = {}
    for point in points:
        last[(point.tag, point.step + offset)] = point.value
    merged = []
    for event in events:
        if event.type == "step":
            data = dict(event.data)
            for field, tag in (("loss", "loss/current"), ("avr_loss", "loss/average"), ("lr", lr_tag)):
                value = last.get((tag, event.get("step")))
                if value is not None and math.isfinite(value):
                    data[field] = value
                elif value is not None:  # JSON has no NaN: name the field instead
                    data.pop(field, None)
                    data["nonfinite"] = sorted({*data.get("nonfinite", []), field})
            event = Event(event.type, event.t, data)
        merged.append(event)
    return merged
