<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Migrations;

use Doctrine\DBAL\Schema\Schema;
use Doctrine\Migrations\AbstractMigration;
use Ingestd\PimcoreBundle\Store\Schema as IngestdSchema;

/**
 * The bundle's tables, for projects that manage their schema with Doctrine Migrations
 * (instead of `bin/console ingestd:setup`). The same definition as ingestd:setup.
 */
final class Version20261207000000 extends AbstractMigration
{
    public function getDescription(): string
    {
        return 'ingestd: tables ingestd_ingestion, ingestd_chunk and ingestd_failure';
    }

    public function up(Schema $schema): void
    {
        (new IngestdSchema())->define($schema);
    }

    public function down(Schema $schema): void
    {
        foreach (array_reverse((new IngestdSchema())->tables()) as $table) {
            $schema->dropTable($table);
        }
    }
}
