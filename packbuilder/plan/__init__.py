"""The plan stage: a catalog, a pack and a profile resolved into exact artifacts, kept in a lock file."""
