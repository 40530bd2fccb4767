<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Refused;

/** Demands `Authorization: Bearer <token>` when a token is configured (any of several, for rotation). */
final class TokenVerifier implements RequestVerifier
{
    public function __construct(private readonly Secrets $tokens)
    {
    }

    public function verify(CallbackRequest $request): void
    {
        if (!$this->tokens->configured()) {
            return;
        }
        $given = $request->header('authorization');
        foreach ($this->tokens->all() as $token) {
            if (hash_equals('Bearer ' . $token, $given)) {
                return;
            }
        }
        throw new Refused(Answer::status(401, 'Bad token'));
    }
}
