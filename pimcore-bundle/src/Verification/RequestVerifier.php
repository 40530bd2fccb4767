<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Refused;

/** One check of a request before its body is decoded. */
interface RequestVerifier
{
    /** @throws Refused with the answer the protocol gives for this failure */
    public function verify(CallbackRequest $request): void;
}
