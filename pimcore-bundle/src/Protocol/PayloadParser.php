<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** Turns a verified body into a Chunk or a Completion, refusing what is neither (HTTP 400). */
final class PayloadParser
{
    private const ID = '/^[0-9a-f]{64}$/D';

    public function __construct(private readonly CanonicalJson $canonical)
    {
    }

    public function parse(string $body): Chunk|Completion
    {
        try {
            $payload = json_decode($body, false, 100000, \JSON_THROW_ON_ERROR);
        } catch (\JsonException) {
            throw new Refused(Answer::status(400, 'Body is not JSON'));
        }
        if (!$payload instanceof \stdClass || !\is_string($payload->ingestion_id ?? null)
            || !preg_match(self::ID, $payload->ingestion_id)) {
            throw new Refused(Answer::status(400, 'Not a chunk or completion'));
        }

        return match ($payload->type ?? null) {
            'chunk' => $this->chunk($payload),
            'completion' => $this->completion($payload),
            default => throw new Refused(Answer::status(400, 'Unknown type')),
        };
    }

    private function chunk(\stdClass $payload): Chunk
    {
        $number = $payload->chunk_number ?? null;
        $records = $payload->records ?? null;
        $checksum = $payload->checksum ?? null;
        if (!\is_int($number) || $number < 0 || !\is_array($records) || !\is_string($checksum)) {
            throw new Refused(Answer::status(400, 'chunk_number, checksum or records missing'));
        }
        $offset = $payload->record_offset ?? null;

        return new Chunk(
            $payload->ingestion_id,
            $number,
            $checksum,
            $this->canonical->encode($records),
            \count($records),
            \is_int($offset) ? $offset : -1,
            Source::fromPayload($payload->source ?? null),
        );
    }

    private function completion(\stdClass $payload): Completion
    {
        $count = $payload->chunk_count ?? null;
        $total = $payload->total_records ?? null;
        if (!\is_int($count) || !\is_int($total)) {
            throw new Refused(Answer::status(400, 'chunk_count or total_records missing'));
        }
        $number = $payload->chunk_number ?? null;

        return new Completion(
            $payload->ingestion_id,
            \is_int($number) ? $number : $count - 1,
            $count,
            $total,
            \is_string($payload->file_sha256 ?? null) ? $payload->file_sha256 : '',
            Source::fromPayload($payload->source ?? null),
        );
    }
}
