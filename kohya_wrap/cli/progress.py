"""Live progress in the terminal (face 1): a status line on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
import time


def _clock(seconds) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _speed(event: dict) -> str:
    if event.get("s_per_it"):
        return f"{event['s_per_it']:.2f} s/it"
    if event.get("it_s"):
        return f"{event['it_s']:.2f} it/s"
    return "-"


class ProgressView:
    """Turns events into what the user sees while a run goes on."""

    def __init__(self, stream=None, tty: bool | None = None, cost=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.cost = cost
        self.started = time.time()
        self.state: dict = {"saves": 0, "samples": 0, "epoch": None, "epochs": None}
        self._live = None

    def line(self) -> str:
        state = self.state
        parts = [f"step {state.get('step', 0)}/{state.get('total', '?')}"]
        if state.get("epoch"):
            parts.append(f"epoch {state['epoch']}/{state.get('epochs') or '?'}")
        if state.get("avr_loss") is not None:
            loss = f"loss {state['avr_loss']:.4f}"
            if state.get("loss") is not None:
                loss += f" (last {state['loss']:.4f})"
            parts.append(loss)
        parts.append(state.get("speed", "-"))
        parts.append(f"elapsed {_clock(time.time() - self.started)}")
        parts.append(f"ETA {_clock(state.get('eta_s'))}")
        parts.append(f"saves {state['saves']} samples {state['samples']}")
        if self.cost is not None:
            parts.append(self.cost.describe(time.time()))
        return " | ".join(parts)

    def __call__(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "step":
            self.state.update({key: event.get(key) for key in ("step", "total", "loss", "avr_loss", "eta_s")})
            self.state["speed"] = _speed(event)
            self._status()
        elif kind == "epoch":
            self.state.update(epoch=event.get("epoch"), epochs=event.get("total") or event.get("epochs"))
        elif kind == "config":
            self.state["total"] = event.get("steps") or self.state.get("total")
            self._say(f"config: {_config_text(event)}")
        elif kind == "saved":
            self.state["saves"] += 1
            self._say(f"saved {event.get('path')}")
        elif kind == "sample":
            self.state["samples"] += 1
        elif kind in ("warning", "limit"):
            self._say(f"{kind}: {event.get('message', '')}")
        elif kind == "error":
            self._say(f"error: {event.get('message', '')}" + (f"\n  hint: {event['hint']}" if event.get("hint") else ""))
        elif kind == "started":
            self._say(f"started pid {event.get('pid')}")

    def progress(self, bar: dict) -> None:
        """A live redraw of the training bar (from the parser), between step events."""
        self.state.update(step=bar.get("step"), total=bar.get("total"), eta_s=bar.get("eta_s"))
        avr = (bar.get("postfix") or {}).get("avr_loss")
        if isinstance(avr, float):
            self.state["avr_loss"] = avr
        self.state["speed"] = _speed(bar)
        if self.tty:
            self._status()

    def _status(self) -> None:
        text = self.line()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
        else:
            self.stream.write(text + "\n")

    def _say(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _config_text(event: dict) -> str:
    labels = (("images", "images x repeats"), ("reg_images", "reg images"), ("batches_per_epoch", "batches/epoch"),
              ("epochs", "epochs"), ("batch_size", "batch"), ("grad_accum", "grad accumulation"),
              ("steps", "steps"))
    return ", ".join(f"{label} {event.get(key)}" for key, label in labels if event.get(key) is not None)
