"""Airflow assets shared by the DAGs (imports only the light Task SDK)."""

from airflow.sdk import Asset

MONTHLY_RETURNS = Asset(name="district_monthly_returns", uri="district://warehouse/monthly-returns")
