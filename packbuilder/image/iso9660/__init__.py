"""ISO 9660: the appending writer behind ``--iso-engine pycdlib``.

- :mod:`.records`: descriptors, directory records, SUSP/Rock Ridge fields;
- :mod:`.files`: the overlay plan as a tree of folders and contents;
- :mod:`.hierarchy`: one directory hierarchy (primary + Rock Ridge, or Joliet) along the changed paths;
- :mod:`.build`: its new extents and path tables;
- :mod:`.sysarea`: MBR, GPT and APM entries that follow the image's new size;
- :mod:`.append`: the writer (:func:`~packbuilder.image.iso9660.append.write_overlay_append`).
"""
