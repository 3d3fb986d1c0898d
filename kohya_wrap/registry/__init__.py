"""Registry of jobs, model versions and datasets in a SQL database, with the job queue."""
