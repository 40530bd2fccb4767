"""XML files: the elements at a record path, streamed through xmltodict on expat."""

from ingestd.readers.xml.reader import XmlReader

__all__ = ["XmlReader"]
