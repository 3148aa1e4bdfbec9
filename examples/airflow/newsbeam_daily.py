"""Airflow DAG: newsbeam once a day into the same dataset.

Needs ``apache-airflow-providers-apache-beam`` and ``apache-airflow-providers-google`` (the
Beam operator requires it, whatever the runner) on the Airflow workers and a checkout of
newsbeam there (``NEWSBEAM_HOME``); the operator installs newsbeam into its own
virtualenv from that checkout. The incremental state under ``OUTPUT/state`` makes each
daily run fetch only what is new; the run id is the DAG run's logical date, so the rows
and the manifest (``OUTPUT/runs/<yyyymmdd>.json``) name the day they belong to.

Configuration comes from the environment of the Airflow workers:

- ``NEWSBEAM_HOME``: the checkout (default ``/opt/newsbeam``).
- ``NEWSBEAM_FEEDS``: the feed list, a path or ``gs://``/``s3://`` URL.
- ``NEWSBEAM_OUTPUT``: the dataset root, e.g. ``s3://my-bucket/news``.
- ``NEWSBEAM_RUNNER``: ``DirectRunner`` (default: the Airflow worker's own cores, two
  worker processes) or ``DataflowRunner`` (then also ``NEWSBEAM_PROJECT``,
  ``NEWSBEAM_REGION``, ``NEWSBEAM_TEMP``, and the Google provider installed). For Flink or
  Spark, put the options of README "Running on a cluster" in ``pipeline_options``.
- ``NEWSBEAM_EXTRA``: more options, ``key=value`` separated by spaces (``key=true`` for a
  flag such as ``allow_private_hosts``).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

HOME = os.environ.get("NEWSBEAM_HOME", "/opt/newsbeam")
RUNNER = os.environ.get("NEWSBEAM_RUNNER", "DirectRunner")
OPTIONS = {
    "feeds": os.environ.get("NEWSBEAM_FEEDS", f"{HOME}/feeds.opml"),
    "output": os.environ.get("NEWSBEAM_OUTPUT", "s3://my-bucket/news"),
    "run_id": "{{ ds_nodash }}",
}
if RUNNER == "DirectRunner":
    OPTIONS.update(direct_running_mode="multi_processing", direct_num_workers="2")
elif RUNNER == "DataflowRunner":
    OPTIONS.update(setup_file=f"{HOME}/setup.py", project=os.environ.get("NEWSBEAM_PROJECT", "my-project"),
                   region=os.environ.get("NEWSBEAM_REGION", "europe-west1"),
                   temp_location=os.environ.get("NEWSBEAM_TEMP", "gs://my-bucket/tmp"))
for key, _, value in (item.partition("=") for item in os.environ.get("NEWSBEAM_EXTRA", "").split()):
    OPTIONS[key] = {"true": True, "false": False}.get(value.lower(), value)  # True: a bare --flag

with DAG(
    dag_id="newsbeam_daily",
    schedule="15 4 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,  # runs share OUTPUT/state: never two at once
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="ingest",
        # `python pipeline/__main__.py --feeds=... --output=...`: options alone mean `run`.
        py_file=f"{HOME}/pipeline/__main__.py",
        pipeline_options=OPTIONS,
        runner=RUNNER,
        py_requirements=[f"{HOME}[aws]"],
        py_interpreter="python3",
        py_system_site_packages=False,
    )
