"""Dashboard benchmark on loopback: event-written-to-browser latency over SSE, 50 concurrent SSE clients on 5
running jobs, server RSS and CPU, and the job list with 10,000 jobs (ms per page).

Run:  python bench/bench_web.py [--clients 50] [--jobs 5] [--seconds 20] [--rate 5] [--list-jobs 10000]
A real `kohya-wrap serve --workers 0` (uvicorn) in a subprocess on 127.0.0.1; a writer process appends real
event lines (step events with the time they were written in "t") to each job's events.jsonl; the clients
(httpx streams, plus one headless chromium EventSource when chromium and playwright are there) measure
receive time - "t". Every loop is bounded by --seconds. Writes bench/results/web.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "web.md"
KEPT = "\n## Real backend flow"  # written by hand after a real run; a new benchmark run keeps it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KOHYA_WRAP_HOME": str(home), "KOHYA_WRAP_DB": db}
    process = subprocess.Popen([sys.executable, "-m", "kohya_wrap", "serve", "--workers", "0", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in KiB, and CPU seconds used so far."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = stat[stat.rindex(")") + 2:].split()
    fields["cpu_s"] = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
    return fields


def running_jobs(registry, runs: Path, count: int) -> list[str]:
    """Job folders registered as running, supervised by this (living) process so nobody marks them lost."""
    from kohya_wrap.registry import liveness
    from kohya_wrap.registry.jobs import register_folder, update_job

    ids = []
    for n in range(count):
        job_id = f"20260101-0000{n:02d}-bench{n}-{n:04x}"
        folder = runs / job_id
        folder.mkdir(parents=True)
        (folder / "job.toml").write_text(f'[meta]\nname = "bench{n}"\n')
        (folder / "events.jsonl").write_text(json.dumps({"type": "started", "t": time.time(), "pid": 1}) + "\n")
        register_folder(registry, folder, versions=False)
        update_job(registry, job_id, status="running", host=liveness.this_host(), pid=os.getpid(),
                   pid_start=liveness.pid_start_token(os.getpid()), heartbeat_at=time.time())
        ids.append(job_id)
    return ids


def write_events(folders: list[str], rate: float, seconds: float) -> None:
    """The writer process: a step event per job every 1/rate s, "t" = the moment it is written."""
    deadline, step = time.time() + seconds, 0
    handles = [open(Path(folder) / "events.jsonl", "a", encoding="utf-8") for folder in folders]
    while time.time() < deadline:
        step += 1
        for handle in handles:
            event = {"type": "step", "t": time.time(), "step": step, "total": 100000, "avr_loss": 0.1234,
                     "s_per_it": 1.0 / rate, "eta_s": 1000, "elapsed_s": step / rate}
            handle.write(json.dumps(event) + "\n")
            handle.flush()
        time.sleep(1.0 / rate)
    for handle in handles:
        handle.close()


async def sse_client(http, url: str, job_id: str, since: float, out: list[float], stop_at: float) -> None:
    async with http.stream("GET", f"{url}/api/jobs/{job_id}/events") as answer:
        async for line in answer.aiter_lines():
            if line.startswith("data: "):
                now = time.time()
                event = json.loads(line[6:])
                if event.get("type") == "step" and event["t"] >= since:
                    out.append(now - event["t"])
            if time.time() > stop_at:
                return


async def browser_client(url: str, job_id: str, seconds: float, out: list[float]) -> str | None:
    """One chromium tab with an EventSource, measuring Date.now() - t inside the page."""
    chromium = os.environ.get("KOHYA_WRAP_CHROMIUM") or shutil.which("chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return "playwright is not installed"
    if not chromium:
        return "no chromium"
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(f"{url}/")
        await page.evaluate("""(job) => { window.lat = []; const since = Date.now() / 1000;
            const source = new EventSource(`/api/jobs/${job}/events`);
            source.onmessage = (m) => { const e = JSON.parse(m.data);
              if (e.type === 'step' && e.t >= since) window.lat.push(Date.now() / 1000 - e.t); }; }""", job_id)
        await asyncio.sleep(seconds)
        out.extend(await page.evaluate("() => window.lat"))
        await browser.close()
    return None


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": statistics.median(ordered) * 1000,
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, "max": ordered[-1] * 1000}


async def live_phase(url: str, server_pid: int, jobs: list[str], folders: list[str], clients: int, rate: float,
                     seconds: float) -> dict:
    import httpx

    writer = multiprocessing.Process(target=write_events, args=(folders, rate, seconds + 2))
    http_lat, browser_lat = [], []
    limits = httpx.Limits(max_connections=clients + 5)
    async with httpx.AsyncClient(timeout=seconds + 30, limits=limits) as http:
        since = time.time() + 1.0
        before = proc_status(server_pid)
        writer.start()
        stop_at = time.time() + seconds
        tasks = [asyncio.create_task(sse_client(http, url, jobs[n % len(jobs)], since, http_lat, stop_at))
                 for n in range(clients)]
        browser = asyncio.create_task(browser_client(url, jobs[0], seconds, browser_lat))
        await asyncio.sleep(seconds / 2)
        during = proc_status(server_pid)
        done, pending = await asyncio.wait(tasks, timeout=seconds + 10)
        for task in pending:
            task.cancel()
        browser_note = await browser
        after = proc_status(server_pid)
    writer.join(10)
    return {"http": percentiles(http_lat), "browser": percentiles(browser_lat), "browser_note": browser_note,
            "rss_idle_mb": before["VmRSS"] / 1024, "rss_load_mb": during["VmRSS"] / 1024,
            "rss_peak_mb": after["VmHWM"] / 1024,
            "cpu_pct": 100 * (after["cpu_s"] - before["cpu_s"]) / seconds, "clients_done": len(done)}


def fill_jobs(registry, count: int) -> None:
    """count finished job rows straight into the table (the dashboard reads rows, not folders)."""
    from kohya_wrap.registry import schema

    statuses = ("succeeded", "succeeded", "succeeded", "failed", "cancelled", "stopped")
    rows = [{"id": f"20250101-{n // 3600:02d}{n // 60 % 60:02d}{n % 60:02d}-list{n}-{n % 65536:04x}",
             "name": f"list{n}", "status": statuses[n % len(statuses)], "cause": None if n % 6 < 3 else "oom",
             "job_dir": f"/nonexistent/list{n}", "created_at": 1.7e9 + n, "step": 3000, "total_steps": 3000,
             "last_loss": 0.1, "mean_s_per_it": 1.2, "cost_usd": 1.5, "config": {"meta": {"name": f"list{n}"}}}
            for n in range(count)]
    with registry.write() as conn:
        conn.execute(schema.training_jobs.insert(), rows)


def time_get(url: str, path: str, repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        with urllib.request.urlopen(f"{url}{path}", timeout=30) as answer:
            answer.read()
        samples.append((time.perf_counter() - start) * 1000)
    return {"p50": statistics.median(samples), "p95": sorted(samples)[int(0.95 * (len(samples) - 1))]}


def list_phase(url: str, registry, count: int, repeats: int) -> dict:
    from kohya_wrap.registry.jobs import list_jobs, page_jobs

    fill_jobs(registry, count)
    last = (count + 5 + 49) // 50
    paths = {"/api/jobs (page 1)": "/api/jobs", f"/api/jobs?page={last // 2} (middle)": f"/api/jobs?page={last // 2}",
             f"/api/jobs?page={last} (last)": f"/api/jobs?page={last}",
             "/api/jobs?status=failed&page=10": "/api/jobs?status=failed&page=10",
             f"/?page={last // 2} (HTML page)": f"/?page={last // 2}"}
    pages = {label: time_get(url, path, repeats) for label, path in paths.items()}
    one_page = median_ms(lambda: page_jobs(registry, offset=(last // 2) * 50, limit=50), 10)
    all_rows = median_ms(lambda: list_jobs(registry), 3)
    return {"pages": pages, "library_page_ms": one_page, "library_all_ms": all_rows, "rows": len(list_jobs(registry))}


def median_ms(call, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def report(args, live: dict, listed: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.1f}"

    load = os.getloadavg()
    lines = [f"# dashboard benchmark (`bench/bench_web.py`), loopback", "",
             f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"load average at the end {load[0]:.1f} (shared machine); server: `kohya-wrap serve --workers 0` "
             f"(uvicorn, SQLite registry, event stream polls each file every 0.1 s)", "",
             f"## Live events: {args.clients} SSE clients on {args.jobs} running jobs, {args.seconds:g} s",
             "", f"A writer process appends a step event to each job's events.jsonl {args.rate:g} times a second "
             f"({args.jobs * args.rate:g} lines/s, {args.clients * args.rate:g} messages/s to the clients); latency ="
             " time received - the event's own `t` (written just before the line).", "",
             "| client | messages | p50 ms | p95 ms | max ms |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, key in ((f"httpx stream x {args.clients}", "http"), ("headless chromium EventSource (51st client)", "browser")):
        p = live[key]
        lines.append(f"| {name} | {p['n']} | {ms(p['p50'])} | {ms(p['p95'])} | {ms(p['max'])} |")
    if live["browser_note"]:
        lines.append(f"\n(browser client skipped: {live['browser_note']})")
    lines += ["", f"server RSS: {live['rss_idle_mb']:.0f} MB idle, {live['rss_load_mb']:.0f} MB with the clients "
              f"connected, peak {live['rss_peak_mb']:.0f} MB; server CPU during the run {live['cpu_pct']:.0f}% of one core",
              "", f"## Job list with {args.list_jobs:,} jobs (+{args.jobs} running), {args.repeats} requests each", "",
              "| request | p50 ms | p95 ms |", "| --- | ---: | ---: |"]
    for label, value in listed["pages"].items():
        lines.append(f"| `{label}` | {value['p50']:.1f} | {value['p95']:.1f} |")
    ratio = listed["library_all_ms"] / max(listed["library_page_ms"], 1e-6)
    lines += ["", f"library (median): `registry.jobs.page_jobs` (a middle page of 50 + the total) {listed['library_page_ms']:.1f} ms vs "
              f"`list_jobs` (all {listed['rows']:,} rows, what `jobs ls` reads) {listed['library_all_ms']:.0f} ms: "
              f"**{ratio:.0f}x**", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=5.0, help="step events per second per job")
    parser.add_argument("--list-jobs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from kohya_wrap.registry.db import open_registry

    with tempfile.TemporaryDirectory(prefix="kw-bench-web-") as scratch:
        home = Path(scratch) / "home"
        os.environ["KOHYA_WRAP_HOME"] = str(home)
        db = f"sqlite:///{home / 'registry.db'}"
        registry = open_registry(db)
        jobs = running_jobs(registry, home / "runs", args.jobs)
        server, url = start_server(home, db)
        try:
            live = asyncio.run(live_phase(url, server.pid, jobs, [str(home / "runs" / j) for j in jobs],
                                          args.clients, args.rate, args.seconds))
            listed = list_phase(url, registry, args.list_jobs, args.repeats)
        finally:
            server.terminate()
            server.wait(30)
    text = report(args, live, listed)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = args.out.read_text().split(KEPT, 1) if args.out.is_file() else []
    args.out.write_text(text + (KEPT + kept[1] if len(kept) == 2 else ""))


if __name__ == "__main__":
    main()
