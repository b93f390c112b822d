"""Where the config file is: --config, else $SPENDWATCH_CONFIG, else ./spendwatch.toml, else
/etc/spendwatch/config.toml.

Its own module, apart from the schema (spendwatch.config_schema re-exports both names), so that
`spendwatch --store s.duckdb sql ...` can learn that there is no config file without building the
schema's dataclasses (CLI start-up time, issue 12).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

DEFAULT_CONFIG_PATHS = ("./spendwatch.toml", "/etc/spendwatch/config.toml")


def find_config_path(explicit: str | None) -> str:
    """--config, else $SPENDWATCH_CONFIG, else ./spendwatch.toml, else /etc/spendwatch/config.toml."""
    if explicit:
        return explicit
    env = os.environ.get("SPENDWATCH_CONFIG")
    if env:
        return env
    for p in DEFAULT_CONFIG_PATHS:
        if Path(p).exists():
            return p
    raise ConfigError([f"no config file: pass --config, set SPENDWATCH_CONFIG, or create {' or '.join(DEFAULT_CONFIG_PATHS)}"])
