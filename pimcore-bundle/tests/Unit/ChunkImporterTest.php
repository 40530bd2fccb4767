<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Unit;

use Doctrine\DBAL\Connection;
use Ingestd\PimcoreBundle\Import\ChunkImporter;
use Ingestd\PimcoreBundle\Import\RecordContext;
use Ingestd\PimcoreBundle\Import\RecordImporter;
use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\PayloadParser;
use Ingestd\PimcoreBundle\Store\ChunkStore;
use Ingestd\PimcoreBundle\Store\ImportLedger;
use Ingestd\PimcoreBundle\Tests\Bodies;
use PHPUnit\Framework\TestCase;

final class ChunkImporterTest extends TestCase
{
    private Connection $db;
    private string $id;
    /** @var list<array{int, int, string, string}> record n, index, file, chunk */
    private array $calls = [];
    private \DateTimeImmutable $now;

    protected function setUp(): void
    {
        $this->db = ChunkStoreTest::database();
        $this->id = Bodies::id('import');
        $this->now = new \DateTimeImmutable('2026-01-01 00:00:00');
        $store = new ChunkStore($this->db);
        $parser = new PayloadParser(new CanonicalJson());
        foreach ([0, 1, 2] as $n) {
            $records = sprintf('[{"n":%d},{"fail_import":%s,"n":%d}]', 2 * $n, 1 === $n ? 'true' : 'false', 2 * $n + 1);
            $chunk = $parser->parse(Bodies::chunk($this->id, $n, $records, 2 * $n));
            self::assertInstanceOf(Chunk::class, $chunk);
            $store->store($chunk);
        }
    }

    public function testRecordsAreImportedOnceInFileOrderWithTheirContext(): void
    {
        $importer = $this->importer();
        $importer->importUpTo($this->id, 0);
        $importer->importUpTo($this->id, 2);
        $importer->importUpTo($this->id, 2);
        $importer->importUpTo($this->id);

        self::assertSame([0, 1, 2, 4, 5], array_column($this->calls, 0));
        self::assertSame([0, 1, 2, 4, 5], array_column($this->calls, 1));
        self::assertSame(['products.json'], array_values(array_unique(array_column($this->calls, 2))));
    }

    public function testAFailingRecordIsKeptAsAFailureAndTheChunkGoesOn(): void
    {
        $this->importer()->importUpTo($this->id);

        self::assertSame(
            [['1', '3', 'DomainException: record 3 refused']],
            array_map(static fn (array $r): array => array_map('strval', $r), $this->db->fetchAllNumeric(
                'SELECT chunk_number, record_index, error FROM ingestd_failure',
            )),
        );
        self::assertSame(
            [['2', '0'], ['1', '1'], ['2', '0']],
            array_map(static fn (array $r): array => array_map('strval', $r), $this->db->fetchAllNumeric(
                'SELECT imported_records, failed_records FROM ingestd_chunk ORDER BY chunk_number',
            )),
        );
    }

    public function testAChunkAnotherWorkerHoldsIsSkippedUntilItsClaimIsStale(): void
    {
        $other = new ImportLedger($this->db, 3600, fn (): \DateTimeImmutable => $this->now);
        self::assertNotNull($other->claim($this->id, 0));

        $this->importer()->importUpTo($this->id, 0);
        self::assertSame([], $this->calls);

        $this->now = $this->now->modify('+3601 seconds');
        $this->importer()->importUpTo($this->id, 0);
        self::assertSame([0, 1], array_column($this->calls, 0));
    }

    public function testAResetImportsEverythingAgainAndForgetsTheFailures(): void
    {
        $ledger = new ImportLedger($this->db);
        $this->importer()->importUpTo($this->id);
        self::assertSame([0, 1, 2], $ledger->reset($this->id));
        self::assertSame(0, (int) $this->db->fetchOne('SELECT COUNT(*) FROM ingestd_failure'));

        $this->importer()->importUpTo($this->id);
        self::assertSame([0, 1, 2, 4, 5, 0, 1, 2, 4, 5], array_column($this->calls, 0));
    }

    private function importer(): ChunkImporter
    {
        $recorder = new class ($this->calls) implements RecordImporter {
            /** @param list<array{int, int, string, int}> $calls */
            public function __construct(private array &$calls)
            {
            }

            public function import(array $record, RecordContext $context): void
            {
                if (true === ($record['fail_import'] ?? false)) {
                    throw new \DomainException(sprintf('record %d refused', $context->recordIndex));
                }
                $this->calls[] = [$record['n'], $context->recordIndex, $context->fileName, $context->chunkNumber];
            }
        };

        return new ChunkImporter(new ImportLedger($this->db, 3600, fn (): \DateTimeImmutable => $this->now), $recorder);
    }
}
