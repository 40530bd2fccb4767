<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

/** Where a record comes from: the ingestion, the dropped file, its sheet, its index in the file. */
final class RecordContext
{
    public function __construct(
        public readonly string $ingestionId,
        public readonly string $inbox,
        public readonly string $fileName,
        public readonly string $fileType,
        public readonly ?string $sheet,
        public readonly int $chunkNumber,
        public readonly int $recordIndex,
    ) {
    }
}
