<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Verification;

/**
 * Secrets from configuration (space- or newline-separated) and from a file (one per line),
 * read again on every request so a rotation needs no cache clear.
 */
final class Secrets
{
    public function __construct(private readonly ?string $inline, private readonly ?string $file)
    {
    }

    /** @return list<string> */
    public function all(): array
    {
        $text = (string) $this->inline;
        if (null !== $this->file && '' !== $this->file) {
            $content = @file_get_contents($this->file);
            if (false === $content) {
                throw new \RuntimeException(sprintf('Cannot read the secret file %s.', $this->file));
            }
            $text .= "\n" . $content;
        }

        return array_values(array_filter(preg_split('/\s+/', $text) ?: [], static fn (string $s): bool => '' !== $s));
    }

    public function configured(): bool
    {
        return ('' !== trim((string) $this->inline)) || (null !== $this->file && '' !== $this->file);
    }
}
