<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Store;

use Doctrine\DBAL\Schema\Schema as DbalSchema;
use Doctrine\DBAL\Types\Types;

/**
 * The bundle's tables, defined once: `ingestd:setup` creates them and a Doctrine migration
 * can call define() in its up().
 */
final class Schema
{
    public const INGESTION = 'ingestd_ingestion';
    public const CHUNK = 'ingestd_chunk';
    public const FAILURE = 'ingestd_failure';

    public function define(DbalSchema $schema): void
    {
        $this->ingestion($schema);
        $this->chunk($schema);
        $this->failure($schema);
    }

    /** @return list<string> */
    public function tables(): array
    {
        return [self::INGESTION, self::CHUNK, self::FAILURE];
    }

    private function ingestion(DbalSchema $schema): void
    {
        $table = $schema->createTable(self::INGESTION);
        $this->utf8($table);
        $table->addColumn('ingestion_id', Types::STRING, ['length' => 64]);
        $table->addColumn('inbox', Types::STRING, ['length' => 255, 'default' => '']);
        $table->addColumn('file_name', Types::STRING, ['length' => 1024, 'default' => '']);
        $table->addColumn('file_type', Types::STRING, ['length' => 32, 'default' => '']);
        $table->addColumn('sheet', Types::STRING, ['length' => 255, 'notnull' => false]);
        $table->addColumn('next_chunk', Types::INTEGER, ['default' => 0]);
        $table->addColumn('record_count', Types::BIGINT, ['default' => 0]);
        $table->addColumn('file_sha256', Types::STRING, ['length' => 64, 'notnull' => false]);
        $table->addColumn('created_at', Types::DATETIME_IMMUTABLE);
        $table->addColumn('updated_at', Types::DATETIME_IMMUTABLE);
        $table->addColumn('completed_at', Types::DATETIME_IMMUTABLE, ['notnull' => false]);
        $table->addColumn('completion_dispatched_at', Types::DATETIME_IMMUTABLE, ['notnull' => false]);
        $table->setPrimaryKey(['ingestion_id']);
        $table->addIndex(['updated_at'], 'ingestd_ingestion_updated');
    }

    private function chunk(DbalSchema $schema): void
    {
        $table = $schema->createTable(self::CHUNK);
        $this->utf8($table);
        $table->addColumn('chunk_id', Types::STRING, ['length' => 80]);
        $table->addColumn('ingestion_id', Types::STRING, ['length' => 64]);
        $table->addColumn('chunk_number', Types::INTEGER);
        $table->addColumn('record_offset', Types::BIGINT);
        $table->addColumn('record_count', Types::INTEGER);
        $table->addColumn('checksum', Types::STRING, ['length' => 64]);
        // The records in canonical form: the bytes the checksum covers (LONGTEXT on MySQL).
        $table->addColumn('records', Types::TEXT);
        $table->addColumn('received_at', Types::DATETIME_IMMUTABLE);
        $table->addColumn('dispatched_at', Types::DATETIME_IMMUTABLE, ['notnull' => false]);
        $table->addColumn('import_claim', Types::STRING, ['length' => 32, 'notnull' => false]);
        $table->addColumn('import_claimed_at', Types::DATETIME_IMMUTABLE, ['notnull' => false]);
        $table->addColumn('imported_at', Types::DATETIME_IMMUTABLE, ['notnull' => false]);
        $table->addColumn('imported_records', Types::INTEGER, ['default' => 0]);
        $table->addColumn('failed_records', Types::INTEGER, ['default' => 0]);
        $table->setPrimaryKey(['chunk_id']);
        $table->addUniqueIndex(['ingestion_id', 'chunk_number'], 'ingestd_chunk_position');
    }

    private function failure(DbalSchema $schema): void
    {
        $table = $schema->createTable(self::FAILURE);
        $this->utf8($table);
        $table->addColumn('id', Types::BIGINT, ['autoincrement' => true]);
        $table->addColumn('ingestion_id', Types::STRING, ['length' => 64]);
        $table->addColumn('chunk_number', Types::INTEGER);
        $table->addColumn('record_index', Types::BIGINT);
        $table->addColumn('error', Types::TEXT);
        $table->addColumn('failed_at', Types::DATETIME_IMMUTABLE);
        $table->setPrimaryKey(['id']);
        $table->addIndex(['ingestion_id', 'record_index'], 'ingestd_failure_ingestion');
    }

    private function utf8(\Doctrine\DBAL\Schema\Table $table): void
    {
        // Records hold any Unicode text; MySQL's utf8 stops at the BMP. Ignored elsewhere.
        $table->addOption('charset', 'utf8mb4');
        $table->addOption('collation', 'utf8mb4_bin');
    }
}
