"""The app layer's one place that loads the plugin packages.

Imports run one way: plugins (`collector/`, `detectors/`, `sinks/`) use the kernel (`spendwatch.values`,
`contracts`, `store`, `findings`, `notice`, `delivery`, `history`, …); the app layer (CLI, daemon, jobs, demo)
sits on top and hands the registries down inside `Config.plugins`. Registries load their packages lazily
(on the first name looked up), so importing this module costs no plugin imports, which keeps
`spendwatch --help` fast.
"""

from __future__ import annotations

from collector import COLLECTORS, FORMATS
from detectors import DETECTORS
from sinks import SINKS

from . import config as _config
from .config_schema import Config
from .contracts import Plugins

PLUGINS = Plugins(collectors=COLLECTORS, formats=FORMATS, detectors=DETECTORS, sinks=SINKS)


def load_config(path: str) -> Config:
    """Read and validate a config file against the installed plugins."""
    return _config.load_config(path, PLUGINS)


def parse_config(text: str, path: str = "spendwatch.toml") -> Config:
    """Validate config text against the installed plugins."""
    return _config.parse_config(text, path, PLUGINS)


def minimal_config(store_path: str) -> Config:
    """A config with only a store (commands given --store without a config file)."""
    return _config.minimal_config(store_path, PLUGINS)
