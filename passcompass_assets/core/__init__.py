"""Domain code free of Dagster, shared by the API, the Dagster assets and the CLI; its floors, and what each may
import, are defined (and checked) in tests/test_architecture.py."""
