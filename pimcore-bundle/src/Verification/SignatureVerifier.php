<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Refused;

/**
 * Standard Webhooks 1.0: one `v1,<base64 HMAC-SHA256>` of "{id}.{timestamp}.{body}" must match
 * one of the secrets, and the timestamp must be within the tolerance of this clock.
 */
final class SignatureVerifier implements RequestVerifier
{
    private readonly \Closure $now;

    public function __construct(
        private readonly Secrets $secrets,
        private readonly int $toleranceSeconds = 300,
        ?\Closure $now = null,
    ) {
        $this->now = $now ?? static fn (): int => time();
    }

    public function verify(CallbackRequest $request): void
    {
        if (!$this->secrets->configured()) {
            return;
        }
        $id = $request->header('webhook-id');
        $timestamp = $request->header('webhook-timestamp');
        if ('' === $id || !preg_match('/^\d{1,12}$/D', $timestamp)
            || abs(($this->now)() - (int) $timestamp) > $this->toleranceSeconds) {
            throw $this->refused();
        }
        $signed = $id . '.' . $timestamp . '.' . $request->body;
        $offered = $this->offered($request->header('webhook-signature'));
        foreach ($this->secrets->all() as $secret) {
            $expected = hash_hmac('sha256', $signed, $this->key($secret), true);
            foreach ($offered as $signature) {
                if (hash_equals($expected, $signature)) {
                    return;
                }
            }
        }
        throw $this->refused();
    }

    /** @return list<string> the raw bytes of each v1 signature in the header */
    private function offered(string $header): array
    {
        $signatures = [];
        foreach (preg_split('/\s+/', trim($header)) ?: [] as $part) {
            if (str_starts_with($part, 'v1,')) {
                $decoded = base64_decode(substr($part, 3), true);
                if (false !== $decoded) {
                    $signatures[] = $decoded;
                }
            }
        }

        return $signatures;
    }

    private function key(string $secret): string
    {
        $encoded = str_starts_with($secret, 'whsec_') ? substr($secret, 6) : $secret;
        $key = base64_decode($encoded, true);
        if (false === $key) {
            throw new \RuntimeException('A signing secret is not whsec_ followed by base64.');
        }

        return $key;
    }

    private function refused(): Refused
    {
        return new Refused(Answer::status(401, 'Bad signature'));
    }
}
