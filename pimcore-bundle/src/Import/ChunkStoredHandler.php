<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

use Ingestd\PimcoreBundle\Message\ChunkStored;

/** Imports the stored chunk (and any earlier one still waiting). */
final class ChunkStoredHandler
{
    public function __construct(private readonly ChunkImporter $importer)
    {
    }

    public function __invoke(ChunkStored $message): void
    {
        $this->importer->importUpTo($message->ingestionId, $message->chunkNumber);
    }
}
