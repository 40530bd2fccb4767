"""The pure core: records, chunks, checksums, the journal format and retry decisions. No I/O."""
