<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** A chunk as sent: its records already in canonical form, the bytes its checksum covers. */
final class Chunk
{
    public function __construct(
        public readonly string $ingestionId,
        public readonly int $chunkNumber,
        public readonly string $checksum,
        public readonly string $canonicalRecords,
        public readonly int $recordCount,
        public readonly int $recordOffset,
        public readonly Source $source,
    ) {
    }

    /** `<ingestion_id>:<chunk_number>`, what a receiver deduplicates by. */
    public function chunkId(): string
    {
        return $this->ingestionId . ':' . $this->chunkNumber;
    }
}
