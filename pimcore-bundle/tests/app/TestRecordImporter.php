<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\App;

use Doctrine\DBAL\Connection;
use Ingestd\PimcoreBundle\Import\RecordContext;
use Ingestd\PimcoreBundle\Import\RecordImporter;

/**
 * Writes one row per call into test_imported, with no unique key, so that a record imported
 * twice shows as two rows. A record with "fail_import": true throws, to show failures kept.
 */
final class TestRecordImporter implements RecordImporter
{
    private bool $ready = false;

    public function __construct(private readonly Connection $connection)
    {
    }

    public function import(array $record, RecordContext $context): void
    {
        if (true === ($record['fail_import'] ?? false)) {
            throw new \DomainException(sprintf('record %d asked to fail', $context->recordIndex));
        }
        $this->table();
        $this->connection->insert('test_imported', [
            'ingestion_id' => $context->ingestionId,
            'record_index' => $context->recordIndex,
            'chunk_number' => $context->chunkNumber,
            'file_name' => $context->fileName,
            'sheet' => $context->sheet,
            'record' => json_encode($record, \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_UNICODE),
        ]);
    }

    private function table(): void
    {
        if (!$this->ready) {
            $this->connection->executeStatement(
                'CREATE TABLE IF NOT EXISTS test_imported (ingestion_id VARCHAR(64) NOT NULL, record_index BIGINT NOT NULL,'
                . ' chunk_number INT NOT NULL, file_name VARCHAR(1024) NOT NULL, sheet VARCHAR(255) NULL, record TEXT NOT NULL)',
            );
            $this->ready = true;
        }
    }
}
