"""Airflow wiring and the direct runner; all call pipeline.jobs."""
