<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\App;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\Schema\Table;
use Doctrine\DBAL\Types\Types;
use Ingestd\PimcoreBundle\Import\RecordContext;
use Ingestd\PimcoreBundle\Import\RecordImporter;

/**
 * Writes one row per call into test_imported, numbered in call order and with no unique key
 * on the record, so that a record imported twice shows as two rows. A record with "fail_import": true throws, to show failures kept.
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
        if ($this->ready || $this->connection->createSchemaManager()->tablesExist(['test_imported'])) {
            $this->ready = true;

            return;
        }
        $table = new Table('test_imported');
        $table->addColumn('seq', Types::BIGINT, ['autoincrement' => true]);
        $table->addColumn('ingestion_id', Types::STRING, ['length' => 64]);
        $table->addColumn('record_index', Types::BIGINT);
        $table->addColumn('chunk_number', Types::INTEGER);
        $table->addColumn('file_name', Types::STRING, ['length' => 1024]);
        $table->addColumn('sheet', Types::STRING, ['length' => 255, 'notnull' => false]);
        $table->addColumn('record', Types::TEXT);
        $table->setPrimaryKey(['seq']);
        $table->addOption('charset', 'utf8mb4');
        $table->addOption('collation', 'utf8mb4_bin');
        $this->connection->createSchemaManager()->createTable($table);
        $this->ready = true;
    }
}
