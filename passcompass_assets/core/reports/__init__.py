"""Period reports: built from scored students, rendered, stored, requested, and measured against final grades."""
