<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\Refused;

/** The chunk's `checksum` against the SHA-256 of its records in canonical form. */
final class ChecksumVerifier
{
    public function __construct(private readonly CanonicalJson $canonical)
    {
    }

    public function verify(Chunk $chunk): void
    {
        if (!hash_equals($this->canonical->checksum($chunk->canonicalRecords), strtolower($chunk->checksum))) {
            throw new Refused(Answer::refuse(Answer::CHECKSUM_MISMATCH));
        }
    }
}
