"""packbuilder: portable free-software packs and live images for associations' old PCs."""

import os

__version__ = "0.1.0"

# pydantic looks for plugins in the entry points of every installed distribution the first time it
# builds a model: tens of milliseconds on every command on a machine with many Python packages.
# packbuilder uses no pydantic plugin; a user who sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
