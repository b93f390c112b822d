"""Loaded by a `spendwatch` subprocess through SPENDWATCH_PLUGINS: registers the test detector at import
(only in that process; in-process tests use `fixed_detector.registered()` instead)."""

from detectors import DETECTORS

from .fixed_detector import FixedDetector

DETECTORS.register("test-fixed")(FixedDetector)
