"""PassCompass: the Dagster code location (``definitions.py``) and its Dagster-free domain core (``core/``).

Nothing is imported here, so that the API can import ``passcompass_assets.core`` without loading Dagster.
"""
