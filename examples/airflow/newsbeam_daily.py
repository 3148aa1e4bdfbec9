"""Airflow DAG: newsbeam once a day into the same dataset, on Dataflow.

Needs ``apache-airflow-providers-apache-beam`` (and ``-google`` for Dataflow) on the
Airflow workers and newsbeam's ``setup.py`` beside this file's deployment (``SETUP_FILE``).
The incremental state under ``OUTPUT/state`` makes each daily run fetch only what is new;
the run id is Airflow's logical date, so a retried or back-filled day reuses its id.
For a Flink or Spark cluster, change ``runner`` and the options (README, "Running on a
cluster"); for a local run drop the Dataflow options and use ``runner="DirectRunner"``.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

NEWSBEAM = "/opt/newsbeam"  # a checkout of newsbeam on the Airflow workers
SETUP_FILE = f"{NEWSBEAM}/setup.py"
OUTPUT = "gs://my-bucket/news"

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
        py_file=f"{NEWSBEAM}/pipeline/__main__.py",
        py_options=[],
        # `python pipeline/__main__.py --feeds=... --output=... ...`: options alone mean `run`.
        pipeline_options={
            "feeds": f"{OUTPUT}/config/feeds.opml",
            "output": OUTPUT,
            "run_id": "{{ ds_nodash }}",
            "setup_file": SETUP_FILE,
            "project": "my-project",
            "region": "europe-west1",
            "temp_location": "gs://my-bucket/tmp",
        },
        runner="DataflowRunner",
        py_requirements=[f"{NEWSBEAM}[gcp]"],
        py_interpreter="python3.11",
        py_system_site_packages=False,
    )
