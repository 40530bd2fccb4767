<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** One answer of the protocol: an HTTP status and the JSON object ingestd reads. */
final class Answer
{
    public const CHECKSUM_MISMATCH = 'Checksum mismatch';
    public const OUT_OF_ORDER = 'Out-of-order chunk';

    /** @param array<string, mixed> $body */
    private function __construct(public readonly int $status, public readonly array $body)
    {
    }

    /** @param array<string, int> $hints max_records / max_bytes for the sender */
    public static function ack(string $ingestionId, int $chunkNumber, bool $duplicate, array $hints): self
    {
        $body = ['ack' => true, 'ingestion_id' => $ingestionId, 'chunk_number' => $chunkNumber];
        if ($duplicate) {
            $body['duplicate'] = true;
        }

        return new self(200, $body + $hints);
    }

    /**
     * A refusal ingestd acts on by its `error` (retry on a checksum, rewind on an order, else fail).
     *
     * @param array<string, mixed> $extra
     */
    public static function refuse(string $error, array $extra = []): self
    {
        return new self(200, ['ack' => false, 'error' => $error] + $extra);
    }

    /** A refusal carried by its HTTP status: 400, 401, 413 fail or split; 503 is retried. */
    public static function status(int $status, string $error): self
    {
        return new self($status, ['ack' => false, 'error' => $error]);
    }
}
