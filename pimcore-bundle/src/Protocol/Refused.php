<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** Thrown by a check that refuses the request; carries the answer the sender gets. */
final class Refused extends \RuntimeException
{
    public function __construct(public readonly Answer $answer)
    {
        parent::__construct((string) $answer->body['error']);
    }
}
