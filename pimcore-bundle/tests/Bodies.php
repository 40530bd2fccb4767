<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests;

/**
 * Request bodies and headers as ingestd sends them, built from the protocol's test vectors
 * (their canonical text and SHA-256), never from the encoder under test.
 */
final class Bodies
{
    public const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

    /** @return list<array<string, string>> */
    public static function vectors(): array
    {
        $file = json_decode((string) file_get_contents(__DIR__ . '/Fixtures/protocol-vectors.json'), true, 512, \JSON_THROW_ON_ERROR);

        return $file['vectors'];
    }

    /** @return array<string, string> the vector named $name */
    public static function vector(string $name): array
    {
        foreach (self::vectors() as $vector) {
            if ($vector['name'] === $name) {
                return $vector;
            }
        }
        throw new \LogicException("No vector $name");
    }

    public static function id(string $seed): string
    {
        return hash('sha256', $seed);
    }

    /**
     * A chunk of $records (canonical JSON text of a list) numbered $number.
     *
     * @param array<string, mixed> $override fields replaced in the payload
     */
    public static function chunk(string $id, int $number, string $records, int $offset, ?string $checksum = null, array $override = []): string
    {
        $fields = [
            'type' => '"chunk"',
            'ingestion_id' => json_encode($id),
            'chunk_number' => (string) $number,
            'chunk_id' => json_encode("$id:$number"),
            'checksum' => json_encode($checksum ?? hash('sha256', $records)),
            'records' => $records,
            'is_last' => 'false',
            'record_offset' => (string) $offset,
            'source' => '{"inbox":"products","file_name":"products.json","file_type":"json"}',
        ];
        foreach ($override as $key => $value) {
            $fields[$key] = json_encode($value);
        }

        return self::object($fields);
    }

    public static function completion(string $id, int $chunkCount, int $totalRecords): string
    {
        return self::object([
            'type' => '"completion"',
            'status' => '"COMPLETED"',
            'ingestion_id' => json_encode($id),
            'chunk_number' => (string) ($chunkCount - 1),
            'chunk_count' => (string) $chunkCount,
            'total_records' => (string) $totalRecords,
            'file_sha256' => json_encode(hash('sha256', 'file')),
            'source' => '{"inbox":"products","file_name":"products.json","file_type":"json"}',
        ]);
    }

    /**
     * Headers ingestd sends with $body: Content-Digest always, a signature by each secret given.
     *
     * @param list<string> $secrets
     *
     * @return array<string, string>
     */
    public static function headers(string $body, array $secrets = [], ?int $timestamp = null, string $webhookId = 'id'): array
    {
        $headers = [
            'content-type' => 'application/json',
            'content-digest' => 'sha-256=:' . base64_encode(hash('sha256', $body, true)) . ':',
        ];
        if ([] !== $secrets) {
            $timestamp ??= time();
            $signatures = array_map(
                static fn (string $secret): string => 'v1,' . base64_encode(hash_hmac('sha256', "$webhookId.$timestamp.$body", (string) base64_decode(substr($secret, 6), true), true)),
                $secrets,
            );
            $headers += ['webhook-id' => $webhookId, 'webhook-timestamp' => (string) $timestamp, 'webhook-signature' => implode(' ', $signatures)];
        }

        return $headers;
    }

    /** @param array<string, string> $fields JSON text by key */
    private static function object(array $fields): string
    {
        $members = [];
        foreach ($fields as $key => $json) {
            $members[] = json_encode($key) . ':' . $json;
        }

        return '{' . implode(',', $members) . '}';
    }
}
