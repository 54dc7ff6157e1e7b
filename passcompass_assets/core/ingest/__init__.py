"""From a client's CSV to the stored state: read, validate, land, register, apply, check."""
