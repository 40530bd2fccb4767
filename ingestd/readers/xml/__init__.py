"""XML files: the elements at a record path, streamed through xmltodict on expat.

The reader is in xml/reader.py and not imported here: the settings read record paths
(xml/paths.py) at start, and need neither the reader nor xmltodict."""
