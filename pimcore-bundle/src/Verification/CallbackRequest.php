<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

/** The raw request as the checks see it: header names lowercased, the body read once. */
final class CallbackRequest
{
    /** @param array<string, string> $headers */
    public function __construct(public readonly array $headers, public readonly string $body)
    {
    }

    public function header(string $name): string
    {
        return $this->headers[strtolower($name)] ?? '';
    }
}
