<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Message;

/** Dispatched after the commit that stored an ingestion's completion: every record has arrived. */
final class IngestionCompleted
{
    public function __construct(public readonly string $ingestionId)
    {
    }
}
