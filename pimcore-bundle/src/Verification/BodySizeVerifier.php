<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Refused;

/** Answers 413 above the configured body size: ingestd then sends the chunk again with half the records. */
final class BodySizeVerifier implements RequestVerifier
{
    public function __construct(private readonly ?int $maxBodyBytes)
    {
    }

    public function verify(CallbackRequest $request): void
    {
        if (null !== $this->maxBodyBytes && \strlen($request->body) > $this->maxBodyBytes) {
            throw new Refused(Answer::status(413, 'Payload too large'));
        }
    }
}
