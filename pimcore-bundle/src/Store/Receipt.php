<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Store;

/** What storing a chunk or a completion did: stored now or known already, and whether its message is still owed. */
final class Receipt
{
    public function __construct(
        public readonly string $ingestionId,
        public readonly int $chunkNumber,
        public readonly bool $completion,
        public readonly bool $duplicate,
        public readonly bool $needsDispatch,
    ) {
    }
}
