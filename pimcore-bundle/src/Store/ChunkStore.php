<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Store;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\Exception\UniqueConstraintViolationException;
use Doctrine\DBAL\Types\Types;
use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\Completion;
use Ingestd\PimcoreBundle\Protocol\Refused;
use Ingestd\PimcoreBundle\Protocol\Source;

/**
 * The receiving side's durable state. Storing a chunk (its records, its row, the ingestion's
 * new position) is one transaction; a refusal rolls everything back. Nothing is acknowledged
 * before store() or complete() returned, that is, before the commit.
 */
final class ChunkStore
{
    private readonly \Closure $now;

    public function __construct(private readonly Connection $connection, ?\Closure $now = null)
    {
        $this->now = $now ?? static fn (): \DateTimeImmutable => new \DateTimeImmutable();
    }

    /** @throws Refused when the chunk is out of order, differs from a stored one or comes after the completion */
    public function store(Chunk $chunk): Receipt
    {
        return $this->connection->transactional(function () use ($chunk): Receipt {
            $ingestion = $this->lock($chunk->ingestionId, $chunk->source);
            if (null !== $ingestion['completed_at']) {
                throw new Refused(Answer::refuse('Ingestion already completed'));
            }
            $next = (int) $ingestion['next_chunk'];
            if ($chunk->chunkNumber < $next) {
                return $this->resent($chunk);
            }
            if ($chunk->chunkNumber > $next) {
                throw new Refused(Answer::refuse(Answer::OUT_OF_ORDER, ['expected_chunk' => $next]));
            }
            if ($chunk->recordOffset !== (int) $ingestion['record_count']) {
                throw new Refused(Answer::refuse(sprintf('record_offset should be %d', $ingestion['record_count'])));
            }
            $this->insert($chunk);

            return new Receipt($chunk->ingestionId, $chunk->chunkNumber, false, false, true);
        });
    }

    /** @throws Refused when chunks are missing or the counts do not match what was stored */
    public function complete(Completion $completion): Receipt
    {
        return $this->connection->transactional(function () use ($completion): Receipt {
            $ingestion = $this->lock($completion->ingestionId, $completion->source);
            $receipt = fn (bool $duplicate, bool $owed): Receipt => new Receipt(
                $completion->ingestionId,
                $completion->chunkNumber,
                true,
                $duplicate,
                $owed,
            );
            if (null !== $ingestion['completed_at']) {
                return $receipt(true, null === $ingestion['completion_dispatched_at']);
            }
            $next = (int) $ingestion['next_chunk'];
            if ($completion->chunkCount > $next) {
                throw new Refused(Answer::refuse(Answer::OUT_OF_ORDER, ['expected_chunk' => $next]));
            }
            if ($completion->chunkCount !== $next || $completion->totalRecords !== (int) $ingestion['record_count']) {
                throw new Refused(Answer::refuse(sprintf(
                    'Completion does not match: received %d chunks and %d records',
                    $next,
                    $ingestion['record_count'],
                )));
            }
            $this->connection->update(
                Schema::INGESTION,
                ['completed_at' => ($this->now)(), 'file_sha256' => substr($completion->fileSha256, 0, 64)],
                ['ingestion_id' => $completion->ingestionId],
                ['completed_at' => Types::DATETIME_IMMUTABLE],
            );

            return $receipt(false, true);
        });
    }

    /** Notes that the message for this chunk or completion is on the bus. */
    public function dispatched(Receipt $receipt): void
    {
        $now = [($this->now)()];
        if ($receipt->completion) {
            $this->connection->executeStatement(
                'UPDATE ' . Schema::INGESTION . ' SET completion_dispatched_at = ? WHERE ingestion_id = ?',
                [...$now, $receipt->ingestionId],
                [Types::DATETIME_IMMUTABLE],
            );

            return;
        }
        $this->connection->executeStatement(
            'UPDATE ' . Schema::CHUNK . ' SET dispatched_at = ? WHERE ingestion_id = ? AND chunk_number = ?',
            [...$now, $receipt->ingestionId, $receipt->chunkNumber],
            [Types::DATETIME_IMMUTABLE],
        );
    }

    /**
     * The ingestion's row, created if new, locked until the commit. The first statement writes,
     * so SQLite takes its write lock at once rather than failing to upgrade a read lock.
     *
     * @return array<string, mixed>
     */
    private function lock(string $ingestionId, Source $source): array
    {
        $now = ($this->now)();
        $touched = $this->connection->executeStatement(
            'UPDATE ' . Schema::INGESTION . ' SET updated_at = ? WHERE ingestion_id = ?',
            [$now, $ingestionId],
            [Types::DATETIME_IMMUTABLE],
        );
        if (0 === $touched) {
            $this->create($ingestionId, $source, $now);
        }
        $row = $this->connection->fetchAssociative(
            'SELECT * FROM ' . Schema::INGESTION . ' WHERE ingestion_id = ? '
            . $this->connection->getDatabasePlatform()->getForUpdateSQL(),
            [$ingestionId],
        );
        if (false === $row) {
            throw new \LogicException('The ingestion row vanished inside its transaction.');
        }

        return $row;
    }

    private function create(string $ingestionId, Source $source, \DateTimeImmutable $now): void
    {
        try {
            $this->connection->insert(Schema::INGESTION, [
                'ingestion_id' => $ingestionId,
                'inbox' => mb_substr($source->inbox, 0, 255),
                'file_name' => mb_substr($source->fileName, 0, 1024),
                'file_type' => mb_substr($source->fileType, 0, 32),
                'sheet' => null === $source->sheet ? null : mb_substr($source->sheet, 0, 255),
                'next_chunk' => 0,
                'record_count' => 0,
                'created_at' => $now,
                'updated_at' => $now,
            ], ['created_at' => Types::DATETIME_IMMUTABLE, 'updated_at' => Types::DATETIME_IMMUTABLE]);
        } catch (UniqueConstraintViolationException) {
            // Created by a concurrent request, or MySQL reported an unchanged updated_at as 0 rows.
        }
    }

    private function resent(Chunk $chunk): Receipt
    {
        $stored = $this->connection->fetchAssociative(
            'SELECT checksum, dispatched_at FROM ' . Schema::CHUNK . ' WHERE ingestion_id = ? AND chunk_number = ?',
            [$chunk->ingestionId, $chunk->chunkNumber],
        );
        if (false === $stored || $stored['checksum'] !== $chunk->checksum) {
            throw new Refused(Answer::refuse('Chunk differs from the one already accepted'));
        }

        return new Receipt($chunk->ingestionId, $chunk->chunkNumber, false, true, null === $stored['dispatched_at']);
    }

    private function insert(Chunk $chunk): void
    {
        $now = ($this->now)();
        $this->connection->insert(Schema::CHUNK, [
            'chunk_id' => $chunk->chunkId(),
            'ingestion_id' => $chunk->ingestionId,
            'chunk_number' => $chunk->chunkNumber,
            'record_offset' => $chunk->recordOffset,
            'record_count' => $chunk->recordCount,
            'checksum' => $chunk->checksum,
            'records' => $chunk->canonicalRecords,
            'received_at' => $now,
            'imported_records' => 0,
            'failed_records' => 0,
        ], ['received_at' => Types::DATETIME_IMMUTABLE]);
        $this->connection->executeStatement(
            'UPDATE ' . Schema::INGESTION . ' SET next_chunk = next_chunk + 1, record_count = record_count + ?, '
            . 'updated_at = ? WHERE ingestion_id = ?',
            [$chunk->recordCount, $now, $chunk->ingestionId],
            [Types::INTEGER, Types::DATETIME_IMMUTABLE],
        );
    }
}
