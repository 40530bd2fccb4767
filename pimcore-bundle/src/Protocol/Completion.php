<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** The message that closes an ingestion: how many chunks and records the sender delivered. */
final class Completion
{
    public function __construct(
        public readonly string $ingestionId,
        public readonly int $chunkNumber,
        public readonly int $chunkCount,
        public readonly int $totalRecords,
        public readonly string $fileSha256,
        public readonly Source $source,
    ) {
    }
}
