"""Downloads and the content-addressed cache: the only part of packbuilder that talks to the network."""
