"""Tools for catalog maintainers: find new upstream versions, add them, verify changed artifacts."""
