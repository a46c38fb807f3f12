"""Per-subject adaptation (personalisation) of trained zoo models."""
