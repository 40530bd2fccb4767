<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Message;

/** Dispatched after the commit that stored a chunk: import its records. */
final class ChunkStored
{
    public function __construct(public readonly string $ingestionId, public readonly int $chunkNumber)
    {
    }
}
