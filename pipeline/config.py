"""Every path and setting of the pipeline, read from the environment with defaults.

| variable | default | meaning |
|---|---|---|
| ``DISTRICT_INBOX`` | ``var/inbox`` | inbox root; one folder ``<YYYY-MM>`` per reporting month |
| ``DISTRICT_DATA`` | ``var`` | archive, feedback, outputs and GX Data Docs live below it |
| ``DISTRICT_WAREHOUSE_URL`` | SQLite file ``$DISTRICT_DATA/warehouse.sqlite`` | SQLAlchemy URL of the warehouse |
| ``AIRFLOW_CONN_DISTRICT_WAREHOUSE`` | unset | Airflow connection ``district_warehouse``; wins over the default |
| ``DISTRICT_TZ`` | ``Asia/Shanghai`` | time zone reporting months and deadlines are reckoned in |
| ``DISTRICT_DEADLINE_DAY`` | ``8`` | day of month M+1 by which month M's returns are due |
| ``DISTRICT_DEADLINE_HOUR`` | ``6`` | hour (local) of that day |
| ``DISTRICT_UNITS_CSV`` | bundled ``pipeline/data/units.csv`` | unit registry: names, aliases, forms owed |
| ``DISTRICT_CONTACT_NAME`` | ``区司法局`` | who a 退回通知 names as the bureau's contact |
| ``DISTRICT_CONTACT_PHONE`` | empty (no phone line) | the contact's telephone on a 退回通知 |
| ``DISTRICT_RESEND_GRACE_DAYS`` | ``5`` | days to resend after a notice once the month's deadline has passed |
| ``DISTRICT_LOG_LEVEL`` | ``WARNING`` | log level of ``python -m pipeline`` commands |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
#: The suites: top-level expectations/, linked into the package as pipeline/expectations so an installed
#: (non-editable) package carries them.
EXPECTATIONS_DIR = Path(__file__).resolve().parent / "expectations"
UNITS_CSV = PACKAGE_DATA / "units.csv"


def units_csv() -> Path:
    """The unit registry in force: ``DISTRICT_UNITS_CSV`` (another district's or a city's), else the bundled one."""
    return Path(os.environ.get("DISTRICT_UNITS_CSV", UNITS_CSV))
#: Every figure: code, Chinese label, section, unit, display rule (approx), source return, phrase, rule in words.
FIGURE_CATALOGUE = Path(__file__).resolve().parent / "figures" / "catalogue.csv"
#: The bureau's list of the 2020 report's figures (the domain contract's copy): the tests' answer key only.
FIGURES_CSV = PACKAGE_DATA / "figures-2020.csv"
#: The district's time zone unless ``DISTRICT_TZ`` says otherwise: reporting months, deadlines, times shown.
DEFAULT_TZ = "Asia/Shanghai"


def warehouse_url_set() -> bool:
    """Whether ``DISTRICT_WAREHOUSE_URL`` names the warehouse (it then wins over an Airflow connection)."""
    return bool(os.environ.get("DISTRICT_WAREHOUSE_URL"))


def log_level() -> str:
    """Log level of ``python -m pipeline`` commands: ``DISTRICT_LOG_LEVEL``."""
    return os.environ.get("DISTRICT_LOG_LEVEL", "WARNING")


@dataclass(frozen=True)
class Settings:
    inbox: Path
    data: Path
    warehouse_url: str
    timezone: str
    deadline_day: int
    deadline_hour: int = 6
    contact_name: str = "区司法局"
    contact_phone: str = ""
    resend_grace_days: int = 5

    @property
    def archive(self) -> Path:
        return self.data / "archive"

    @property
    def feedback(self) -> Path:
        return self.data / "feedback"

    @property
    def out(self) -> Path:
        return self.data / "out"

    @property
    def run_airflow_home(self) -> Path:
        """Airflow home of ``python -m pipeline run`` (and ``make demo``): its own metadata database, so its
        runs and asset events never appear in, or trigger anything of, the Airflow that ``make airflow`` runs."""
        return self.data / "cli-airflow"

    @property
    def data_docs(self) -> Path:
        return self.data / "gx" / "data_docs"


def _warehouse_from_airflow_conn(value: str) -> str:
    """Turn an Airflow connection URI (or JSON) into a SQLAlchemy URL."""
    value = value.strip()
    if value.startswith("{"):
        import json

        conn = json.loads(value)
        scheme = conn.get("conn_type", "postgres")
        auth = conn.get("login") or ""
        if conn.get("password"):
            auth += f":{conn['password']}"
        host = conn.get("host") or ""
        if conn.get("port"):
            host += f":{conn['port']}"
        value = f"{scheme}://{auth + '@' if auth else ''}{host}/{conn.get('schema') or ''}"
    return normalise_url(value)


def normalise_url(url: str) -> str:
    """Map Airflow-style and bare PostgreSQL schemes onto the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def settings(warehouse: str | None = None) -> Settings:
    """Current settings; ``warehouse`` (a ``--warehouse`` flag) wins over the environment."""
    data = Path(os.environ.get("DISTRICT_DATA", PROJECT_ROOT / "var")).resolve()
    inbox = Path(os.environ.get("DISTRICT_INBOX", data / "inbox")).resolve()
    if warehouse:
        url = normalise_url(warehouse)
    elif os.environ.get("DISTRICT_WAREHOUSE_URL"):
        url = normalise_url(os.environ["DISTRICT_WAREHOUSE_URL"])
    elif os.environ.get("AIRFLOW_CONN_DISTRICT_WAREHOUSE"):
        url = _warehouse_from_airflow_conn(os.environ["AIRFLOW_CONN_DISTRICT_WAREHOUSE"])
    else:
        url = f"sqlite:///{data / 'warehouse.sqlite'}"
    return Settings(
        inbox=inbox,
        data=data,
        warehouse_url=url,
        timezone=os.environ.get("DISTRICT_TZ", DEFAULT_TZ),
        deadline_day=int(os.environ.get("DISTRICT_DEADLINE_DAY", "8")),
        deadline_hour=int(os.environ.get("DISTRICT_DEADLINE_HOUR", "6")),
        contact_name=os.environ.get("DISTRICT_CONTACT_NAME", "区司法局").strip() or "区司法局",
        contact_phone=os.environ.get("DISTRICT_CONTACT_PHONE", "").strip(),
        resend_grace_days=int(os.environ.get("DISTRICT_RESEND_GRACE_DAYS", "5")),
    )
