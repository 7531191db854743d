"""The default domain's columns: drinking-water samples from monitoring stations.

The nine measurements are the columns of the public Water Potability data set.
"""

from __future__ import annotations

MEASUREMENTS: tuple[str, ...] = (
    "ph",
    "hardness",
    "solids",
    "chloramines",
    "sulfate",
    "conductivity",
    "organic_carbon",
    "trihalomethanes",
    "turbidity",
)
IDENTIFIERS: tuple[str, ...] = ("sample_id", "station_id", "sampled_at")
SOURCE_COLUMNS: tuple[str, ...] = IDENTIFIERS + MEASUREMENTS
"""What a source must deliver for one day, in this order."""

LABEL_COLUMNS: tuple[str, ...] = ("sample_id", "label", "labelled_at")
"""What a source delivers as labels (lab results) on one day."""
