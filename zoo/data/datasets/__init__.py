"""One reader per real on-disk dataset format."""
