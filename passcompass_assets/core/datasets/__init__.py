"""Data the platform brings itself: the UCI prior and the synthetic demo terms."""
