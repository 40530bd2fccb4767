<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

use Ingestd\PimcoreBundle\Message\IngestionCompleted;

/**
 * Imports whatever chunk of the finished ingestion is still waiting. Projects add their own
 * handler for IngestionCompleted to act on a whole file (unpublish what a full export lacks).
 */
final class IngestionCompletedHandler
{
    public function __construct(private readonly ChunkImporter $importer)
    {
    }

    public function __invoke(IngestionCompleted $message): void
    {
        $this->importer->importUpTo($message->ingestionId);
    }
}
