"""JSON text as both JSON readers see it: RFC 8259's whitespace, and a UTF-8 byte order mark."""

WHITESPACE = b" \t\r\n"
BOM = b"\xef\xbb\xbf"
