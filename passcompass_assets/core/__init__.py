"""Domain logic free of Dagster: catalog, CSV validation, storage, database, model. Shared by API and assets."""
