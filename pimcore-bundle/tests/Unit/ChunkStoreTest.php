<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Unit;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\DriverManager;
use Doctrine\DBAL\Schema\Schema as DbalSchema;
use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\Completion;
use Ingestd\PimcoreBundle\Protocol\PayloadParser;
use Ingestd\PimcoreBundle\Protocol\Refused;
use Ingestd\PimcoreBundle\Store\ChunkStore;
use Ingestd\PimcoreBundle\Store\Schema;
use Ingestd\PimcoreBundle\Tests\Bodies;
use PHPUnit\Framework\TestCase;

final class ChunkStoreTest extends TestCase
{
    private Connection $db;
    private ChunkStore $store;
    private PayloadParser $parser;
    private string $id;

    public static function database(): Connection
    {
        $db = DriverManager::getConnection(['driver' => 'pdo_sqlite', 'memory' => true]);
        $schema = new DbalSchema();
        (new Schema())->define($schema);
        foreach ($schema->toSql($db->getDatabasePlatform()) as $sql) {
            $db->executeStatement($sql);
        }

        return $db;
    }

    protected function setUp(): void
    {
        $this->db = self::database();
        $this->store = new ChunkStore($this->db);
        $this->parser = new PayloadParser(new CanonicalJson());
        $this->id = Bodies::id('store');
    }

    public function testChunksAreStoredInOrderWithTheirCanonicalRecords(): void
    {
        foreach ([0, 1, 2] as $n) {
            $receipt = $this->store->store($this->chunk($n));
            self::assertFalse($receipt->duplicate);
            self::assertTrue($receipt->needsDispatch);
        }
        self::assertSame(['3', '6'], array_map('strval', array_values($this->db->fetchNumeric(
            'SELECT next_chunk, record_count FROM ingestd_ingestion WHERE ingestion_id = ?',
            [$this->id],
        ))));
        self::assertSame(
            [['0', '0', '[{"n":0},{"n":1}]'], ['1', '2', '[{"n":2},{"n":3}]'], ['2', '4', '[{"n":4},{"n":5}]']],
            array_map(static fn (array $r): array => array_map('strval', $r), $this->db->fetchAllNumeric(
                'SELECT chunk_number, record_offset, records FROM ingestd_chunk ORDER BY chunk_number',
            )),
        );
    }

    public function testADuplicateIsAcknowledgedWithoutASecondRow(): void
    {
        $this->store->store($this->chunk(0));
        $this->store->store($this->chunk(1));
        $again = $this->store->store($this->chunk(0));

        self::assertTrue($again->duplicate);
        self::assertSame(2, (int) $this->db->fetchOne('SELECT COUNT(*) FROM ingestd_chunk'));
        self::assertSame(2, (int) $this->db->fetchOne('SELECT next_chunk FROM ingestd_ingestion'));
    }

    public function testADuplicateOwesItsMessageUntilTheDispatchIsNoted(): void
    {
        $first = $this->store->store($this->chunk(0));
        self::assertTrue($this->store->store($this->chunk(0))->needsDispatch);
        $this->store->dispatched($first);
        self::assertFalse($this->store->store($this->chunk(0))->needsDispatch);
    }

    public function testAResentChunkWithOtherRecordsIsRefused(): void
    {
        $this->store->store($this->chunk(0));
        $this->assertRefusal(fn () => $this->store->store($this->chunk(0, '[{"n":9},{"n":1}]')), 'Chunk differs from the one already accepted');
    }

    public function testASkippedChunkIsRefusedNamingTheExpectedOne(): void
    {
        $this->store->store($this->chunk(0));
        $refusal = $this->assertRefusal(fn () => $this->store->store($this->chunk(2)), Answer::OUT_OF_ORDER);
        self::assertSame(1, $refusal->answer->body['expected_chunk']);
    }

    public function testAnUnknownIngestionStartingLateExpectsChunkZeroAndLeavesNoRow(): void
    {
        $refusal = $this->assertRefusal(fn () => $this->store->store($this->chunk(3)), Answer::OUT_OF_ORDER);
        self::assertSame(0, $refusal->answer->body['expected_chunk']);
        self::assertSame(0, (int) $this->db->fetchOne('SELECT COUNT(*) FROM ingestd_ingestion'));
    }

    public function testAWrongRecordOffsetIsRefused(): void
    {
        $this->store->store($this->chunk(0));
        $body = Bodies::chunk($this->id, 1, '[{"n":2}]', 5);
        $this->assertRefusal(fn () => $this->store->store($this->parse($body)), 'record_offset should be 2');
    }

    public function testTheCompletionIsCheckedAgainstTheStoredCounts(): void
    {
        $this->store->store($this->chunk(0));
        $this->store->store($this->chunk(1));
        $this->assertRefusal(fn () => $this->store->complete($this->completion(2, 5)), 'Completion does not match: received 2 chunks and 4 records');
        $missing = $this->assertRefusal(fn () => $this->store->complete($this->completion(3, 6)), Answer::OUT_OF_ORDER);
        self::assertSame(2, $missing->answer->body['expected_chunk']);
        self::assertNull($this->db->fetchOne('SELECT completed_at FROM ingestd_ingestion'));

        $done = $this->store->complete($this->completion(2, 4));
        self::assertFalse($done->duplicate);
        self::assertNotNull($this->db->fetchOne('SELECT completed_at FROM ingestd_ingestion'));
        self::assertTrue($this->store->complete($this->completion(2, 4))->duplicate);
        $this->assertRefusal(fn () => $this->store->store($this->chunk(2)), 'Ingestion already completed');
    }

    public function testAnEmptyFileCompletesWithoutChunks(): void
    {
        $receipt = $this->store->complete($this->completion(0, 0));
        self::assertSame(-1, $receipt->chunkNumber);
        self::assertNotNull($this->db->fetchOne('SELECT completed_at FROM ingestd_ingestion'));
    }

    public function testAFailureInsideTheTransactionLeavesNothingStored(): void
    {
        $this->store->store($this->chunk(0));
        // The ingestion's position is written after the chunk's row: make that write fail.
        $this->db->executeStatement(
            "CREATE TRIGGER fail_position BEFORE UPDATE OF next_chunk ON ingestd_ingestion BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        );
        try {
            $this->store->store($this->chunk(1));
            self::fail('the store reported success');
        } catch (\Doctrine\DBAL\Exception $error) {
            self::assertStringContainsString('disk full', $error->getMessage());
        }
        self::assertSame(1, (int) $this->db->fetchOne('SELECT COUNT(*) FROM ingestd_chunk'));
        self::assertSame(1, (int) $this->db->fetchOne('SELECT next_chunk FROM ingestd_ingestion'));
        self::assertFalse($this->db->isTransactionActive());

        $this->db->executeStatement('DROP TRIGGER fail_position');
        self::assertFalse($this->store->store($this->chunk(1))->duplicate);
    }

    private function chunk(int $number, ?string $records = null): Chunk
    {
        $records ??= sprintf('[{"n":%d},{"n":%d}]', 2 * $number, 2 * $number + 1);

        return $this->parse(Bodies::chunk($this->id, $number, $records, 2 * $number));
    }

    private function completion(int $chunks, int $records): Completion
    {
        $completion = $this->parser->parse(Bodies::completion($this->id, $chunks, $records));
        self::assertInstanceOf(Completion::class, $completion);

        return $completion;
    }

    private function parse(string $body): Chunk
    {
        $chunk = $this->parser->parse($body);
        self::assertInstanceOf(Chunk::class, $chunk);

        return $chunk;
    }

    private function assertRefusal(callable $call, string $error): Refused
    {
        try {
            $call();
        } catch (Refused $refused) {
            self::assertSame($error, $refused->answer->body['error']);
            self::assertFalse($refused->answer->body['ack']);

            return $refused;
        }
        self::fail("not refused: expected $error");
    }
}
