<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Store;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\Types\Types;
use Ingestd\PimcoreBundle\Import\StoredChunk;

/**
 * The import side of the stored chunks: which are imported, who is importing one, and the
 * records that failed. A claim keeps two workers off the same chunk; one older than the
 * stale time is taken over (its worker died).
 */
final class ImportLedger
{
    private readonly \Closure $now;

    public function __construct(
        private readonly Connection $connection,
        private readonly int $staleClaimSeconds = 3600,
        ?\Closure $now = null,
    ) {
        $this->now = $now ?? static fn (): \DateTimeImmutable => new \DateTimeImmutable();
    }

    /** @return list<int> chunk numbers stored but not imported, up to $upTo (all when null), in order */
    public function pending(string $ingestionId, ?int $upTo = null): array
    {
        $numbers = $this->connection->fetchFirstColumn(
            'SELECT chunk_number FROM ' . Schema::CHUNK . ' WHERE ingestion_id = ? AND imported_at IS NULL'
            . ' AND chunk_number <= ? ORDER BY chunk_number',
            [$ingestionId, $upTo ?? \PHP_INT_MAX],
            [Types::STRING, Types::BIGINT],
        );

        return array_map('intval', $numbers);
    }

    /** The chunk, if no one else is importing it and it is not imported yet. */
    public function claim(string $ingestionId, int $chunkNumber): ?StoredChunk
    {
        $now = ($this->now)();
        $claim = bin2hex(random_bytes(16));
        $taken = $this->connection->executeStatement(
            'UPDATE ' . Schema::CHUNK . ' SET import_claim = ?, import_claimed_at = ?'
            . ' WHERE ingestion_id = ? AND chunk_number = ? AND imported_at IS NULL'
            . ' AND (import_claim IS NULL OR import_claimed_at < ?)',
            [$claim, $now, $ingestionId, $chunkNumber, $now->modify(sprintf('-%d seconds', $this->staleClaimSeconds))],
            [Types::STRING, Types::DATETIME_IMMUTABLE, Types::STRING, Types::INTEGER, Types::DATETIME_IMMUTABLE],
        );
        if (1 !== $taken) {
            return null;
        }
        $row = $this->connection->fetchAssociative(
            'SELECT c.record_offset, c.records, i.inbox, i.file_name, i.file_type, i.sheet FROM ' . Schema::CHUNK
            . ' c JOIN ' . Schema::INGESTION . ' i ON i.ingestion_id = c.ingestion_id'
            . ' WHERE c.ingestion_id = ? AND c.chunk_number = ?',
            [$ingestionId, $chunkNumber],
        );
        if (false === $row) {
            return null;
        }

        return new StoredChunk(
            $ingestionId,
            $chunkNumber,
            (int) $row['record_offset'],
            (string) $row['records'],
            (string) $row['inbox'],
            (string) $row['file_name'],
            (string) $row['file_type'],
            null === $row['sheet'] ? null : (string) $row['sheet'],
            $claim,
        );
    }

    /**
     * Marks the chunk imported and keeps its failed records, in one transaction.
     *
     * @param array<int, string> $failures error message by record index in the file
     */
    public function imported(StoredChunk $chunk, int $importedRecords, array $failures): void
    {
        $this->connection->transactional(function () use ($chunk, $importedRecords, $failures): void {
            $now = ($this->now)();
            foreach ($failures as $index => $error) {
                $this->connection->insert(Schema::FAILURE, [
                    'ingestion_id' => $chunk->ingestionId,
                    'chunk_number' => $chunk->chunkNumber,
                    'record_index' => $index,
                    'error' => mb_substr($error, 0, 60000),
                    'failed_at' => $now,
                ], ['failed_at' => Types::DATETIME_IMMUTABLE]);
            }
            $this->connection->executeStatement(
                'UPDATE ' . Schema::CHUNK . ' SET imported_at = ?, imported_records = ?, failed_records = ?,'
                . ' import_claim = NULL WHERE ingestion_id = ? AND chunk_number = ? AND import_claim = ?',
                [$now, $importedRecords, \count($failures), $chunk->ingestionId, $chunk->chunkNumber, $chunk->claim],
                [Types::DATETIME_IMMUTABLE],
            );
        });
    }

    /**
     * Forgets an ingestion's import so that its chunks can be imported again.
     *
     * @return list<int> its chunk numbers, in order
     */
    public function reset(string $ingestionId): array
    {
        return $this->connection->transactional(function () use ($ingestionId): array {
            $this->connection->delete(Schema::FAILURE, ['ingestion_id' => $ingestionId]);
            $this->connection->executeStatement(
                'UPDATE ' . Schema::CHUNK . ' SET imported_at = NULL, imported_records = 0, failed_records = 0,'
                . ' import_claim = NULL, import_claimed_at = NULL WHERE ingestion_id = ?',
                [$ingestionId],
            );

            return array_map('intval', $this->connection->fetchFirstColumn(
                'SELECT chunk_number FROM ' . Schema::CHUNK . ' WHERE ingestion_id = ? ORDER BY chunk_number',
                [$ingestionId],
            ));
        });
    }
}
