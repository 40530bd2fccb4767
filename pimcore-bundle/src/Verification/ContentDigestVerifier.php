<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Refused;

/** RFC 9530 `Content-Digest: sha-256=:<base64>:` over the exact body bytes; a mismatch is resent. */
final class ContentDigestVerifier implements RequestVerifier
{
    public function verify(CallbackRequest $request): void
    {
        if (!preg_match('/sha-256=:([A-Za-z0-9+\/=]+):/', $request->header('content-digest'), $found)) {
            throw new Refused(Answer::refuse(Answer::CHECKSUM_MISMATCH, ['detail' => 'Content-Digest missing']));
        }
        if (!hash_equals(hash('sha256', $request->body, true), (string) base64_decode($found[1], true))) {
            throw new Refused(Answer::refuse(
                Answer::CHECKSUM_MISMATCH,
                ['detail' => 'Content-Digest does not match the body'],
            ));
        }
    }
}
