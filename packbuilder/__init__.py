"""packbuilder: portable free-software packs and live images for associations' old PCs."""

__version__ = "0.1.0"
