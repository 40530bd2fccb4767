<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Store;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\Types\Types;

/** What the console shows and removes: ingestions with their counts, and old ones pruned. */
final class Ingestions
{
    public function __construct(private readonly Connection $connection)
    {
    }

    /** @return list<array<string, mixed>> newest first */
    public function summaries(int $limit): array
    {
        $rows = $this->connection->fetchAllAssociative(
            'SELECT i.ingestion_id, i.inbox, i.file_name, i.sheet, i.next_chunk, i.record_count, i.created_at,'
            . ' i.updated_at, i.completed_at,'
            . ' COALESCE(SUM(c.imported_records), 0) AS imported, COALESCE(SUM(c.failed_records), 0) AS failed,'
            . ' COUNT(c.imported_at) AS chunks_imported'
            . ' FROM ' . Schema::INGESTION . ' i LEFT JOIN ' . Schema::CHUNK . ' c ON c.ingestion_id = i.ingestion_id'
            . ' GROUP BY i.ingestion_id, i.inbox, i.file_name, i.sheet, i.next_chunk, i.record_count, i.created_at,'
            . ' i.updated_at, i.completed_at ORDER BY i.updated_at DESC, i.ingestion_id LIMIT ' . max(1, $limit),
        );

        return array_values($rows);
    }

    /** @return list<array<string, mixed>> */
    public function failures(string $ingestionId, int $limit): array
    {
        return array_values($this->connection->fetchAllAssociative(
            'SELECT chunk_number, record_index, error, failed_at FROM ' . Schema::FAILURE
            . ' WHERE ingestion_id = ? ORDER BY record_index LIMIT ' . max(1, $limit),
            [$ingestionId],
        ));
    }

    public function isCompleted(string $ingestionId): ?bool
    {
        $completed = $this->connection->fetchOne(
            'SELECT completed_at FROM ' . Schema::INGESTION . ' WHERE ingestion_id = ?',
            [$ingestionId],
        );

        return false === $completed ? null : null !== $completed;
    }

    /** Deletes ingestions not touched since $before, with their chunks and failures; returns how many. */
    public function prune(\DateTimeImmutable $before): int
    {
        return $this->connection->transactional(function () use ($before): int {
            $old = 'SELECT ingestion_id FROM ' . Schema::INGESTION . ' WHERE updated_at < ?';
            $types = [Types::DATETIME_IMMUTABLE];
            $this->connection->executeStatement('DELETE FROM ' . Schema::FAILURE . " WHERE ingestion_id IN ($old)", [$before], $types);
            $this->connection->executeStatement('DELETE FROM ' . Schema::CHUNK . " WHERE ingestion_id IN ($old)", [$before], $types);

            return (int) $this->connection->executeStatement('DELETE FROM ' . Schema::INGESTION . ' WHERE updated_at < ?', [$before], $types);
        });
    }
}
