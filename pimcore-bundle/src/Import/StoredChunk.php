<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

/** A stored chunk claimed for import, with what the importer's context needs. */
final class StoredChunk
{
    public function __construct(
        public readonly string $ingestionId,
        public readonly int $chunkNumber,
        public readonly int $recordOffset,
        public readonly string $records,
        public readonly string $inbox,
        public readonly string $fileName,
        public readonly string $fileType,
        public readonly ?string $sheet,
        public readonly string $claim,
    ) {
    }
}
