"""PassCompass REST API: uploads, downloads and the instructors' web page. Never imports Dagster."""
