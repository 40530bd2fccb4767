<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Callback;

/** The back-pressure hints put on every acknowledgement. */
final class Hints
{
    public function __construct(private readonly ?int $maxRecords = null, private readonly ?int $maxBytes = null)
    {
    }

    /** @return array<string, int> */
    public function toArray(): array
    {
        return array_filter(['max_records' => $this->maxRecords, 'max_bytes' => $this->maxBytes], static fn (?int $v): bool => null !== $v);
    }
}
