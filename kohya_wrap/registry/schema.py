"""Registry tables (SQLAlchemy Core): training jobs (and the queue), model versions, datasets."""

from __future__ import annotations

import sqlalchemy as sa

from kohya_wrap.errors import KohyaWrapError


class RegistryError(KohyaWrapError):
    """The registry database cannot be opened, migrated or queried."""


metadata = sa.MetaData()

# Job statuses. queued/running/prepared/lost are the registry's own; the terminal ones come from
# the runner's outcome (summary.json).
QUEUED, PREPARED, RUNNING, LOST = "queued", "prepared", "running", "lost"
TERMINAL = ("succeeded", "failed", "cancelled", "stopped", "lost")

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

training_datasets = sa.Table(
    "training_datasets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the content manifest
    sa.Column("root", sa.Text),
    sa.Column("subsets", sa.JSON),
    sa.Column("image_count", sa.Integer),
    sa.Column("images_per_epoch", sa.Integer),  # images x repeats, summed over subsets
    sa.Column("caption_stats", sa.JSON),
    sa.Column("created_at", sa.Float),
)

training_jobs = sa.Table(
    "training_jobs",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # the job folder's name
    sa.Column("name", sa.String(200)),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("cause", sa.Text),
    sa.Column("preset", sa.Text),
    sa.Column("config", sa.JSON),
    sa.Column("config_hash", sa.String(64)),
    sa.Column("speed_key", sa.String(64)),  # hash of the settings that decide s/it (for estimates)
    sa.Column("dataset_id", sa.String(64), sa.ForeignKey("training_datasets.id")),
    sa.Column("backend_commit", sa.String(64)),
    sa.Column("platform", sa.JSON),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),  # the supervising kohya-wrap process (worker or train)
    sa.Column("pid_start", sa.String(32)),  # its start time token, so a reused pid is not "alive"
    sa.Column("pgid", sa.Integer),  # the trainer's process group
    sa.Column("gpu", sa.String(64)),  # CUDA_VISIBLE_DEVICES given by the worker
    sa.Column("gpu_name", sa.String(200)),
    sa.Column("worker", sa.String(255)),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float),
    sa.Column("queued_at", sa.Float),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("step", sa.Integer),
    sa.Column("total_steps", sa.Integer),
    sa.Column("epoch", sa.Integer),
    sa.Column("last_loss", sa.Float),
    sa.Column("mean_s_per_it", sa.Float),
    sa.Column("hourly_usd", sa.Float),
    sa.Column("cost_usd", sa.Float),
    sa.Column("exit_code", sa.Integer),
    sa.Column("job_dir", sa.Text, nullable=False),
    sa.Index("ix_training_jobs_queue", "status", "priority", "queued_at"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("job_id", sa.String(200), sa.ForeignKey("training_jobs.id", ondelete="CASCADE")),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("step", sa.Integer),
    sa.Column("epoch", sa.Integer),
    sa.Column("rank", sa.Integer),
    sa.Column("alpha", sa.Float),
    sa.Column("base_model_hash", sa.String(128)),
    sa.Column("problem", sa.Text),  # e.g. non-finite tensors: such a file is never a good output
    sa.Column("created_at", sa.Float),
    sa.Column("tags", sa.JSON),
    sa.Column("notes", sa.Text),
    sa.Column("validation", sa.JSON),  # the latest `kohya-wrap validate` summary of this file
    sa.UniqueConstraint("model_name", "version", name="uq_model_versions_name_version"),
    sa.UniqueConstraint("uri", name="uq_model_versions_uri"),
)

JOB_COLUMNS = tuple(column.name for column in training_jobs.columns)
