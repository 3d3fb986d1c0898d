"""Job folders are the source of truth: rebuilding the registry from them gives the same rows."""

from __future__ import annotations

import shutil

from kohya_wrap.registry.db import open_registry
from kohya_wrap.registry.jobs import list_jobs
from kohya_wrap.registry.models import list_versions, tag_version
from kohya_wrap.registry.queue import enqueue
from kohya_wrap.registry.rebuild import rebuild
from tests.registry.conftest import reset_postgres, run_worker, snapshot


def _three_jobs(registry, standin):
    good = standin("shape", "network.network_dim=4")
    other = standin("shape", "network.network_dim=8")
    bad = standin("broken")
    for job in (good, other, bad):
        enqueue(registry, job)
    result = run_worker(registry, scenarios={"broken": "fail_missing_model"}, continue_on_error=True)
    return result, (good, other, bad)


def test_rebuild_reproduces_the_live_rows(registry, db_url, standin, runs, tmp_path):
    result, (good, other, bad) = _three_jobs(registry, standin)
    statuses = dict(result.ran)
    assert statuses == {good.name: "succeeded", other.name: "succeeded", bad.name: "failed"}
    versions = list_versions(registry)
    assert len(versions) >= 4 and {v["job_id"] for v in versions} == {good.name, other.name}
    tag_version(registry, f"{versions[0]['model_name']}:v{versions[0]['version']}", add=["best"], notes="keep")
    live = snapshot(registry)
    assert len(live["jobs"]) == 3 and len(live["datasets"]) == 1

    if db_url.startswith("sqlite"):
        fresh = open_registry(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    else:
        reset_postgres(db_url)
        fresh = open_registry(db_url)
    report = rebuild(fresh, runs)
    assert (len(report.jobs), report.versions, len(report.datasets)) == (3, len(versions), 1)
    assert snapshot(fresh) == live
    rebuild(fresh, runs)
    assert snapshot(fresh) == live


def test_rebuild_prunes_rows_whose_folder_is_gone_only_when_asked(registry, standin, runs):
    first, second = standin("one"), standin("two")
    for job in (first, second):
        enqueue(registry, job)
    shutil.rmtree(second)
    assert rebuild(registry, runs).pruned == [] and len(list_jobs(registry)) == 2
    assert rebuild(registry, runs, prune=True).pruned == [second.name]
    assert [r["id"] for r in list_jobs(registry)] == [first.name]


def test_a_damaged_folder_is_reported_and_the_rest_rebuilt(registry, standin, runs):
    good, broken = standin("good"), standin("broken")
    (broken / "job.toml").write_text("this is [not toml")
    report = rebuild(registry, runs)
    assert report.jobs == [good.name] and report.skipped[0][0] == str(broken)


def test_dry_run_folders_are_not_rebuilt_as_jobs(registry, standin, runs):
    from kohya_wrap.job.meta import update_meta

    ran, dry = standin("ran"), standin("dry")
    update_meta(dry, dry_run={"at": 1.0})
    update_meta(ran, dry_run={"at": 1.0})
    (ran / "train.log").write_text("a launch happened here\n")  # a folder that ran is a job even if once dry
    report = rebuild(registry, runs)
    assert dry.name not in report.jobs and str(dry) in report.dry_runs
    assert ran.name in report.jobs
