<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Functional;

use Ingestd\PimcoreBundle\Import\ChunkStoredHandler;
use Ingestd\PimcoreBundle\Import\IngestionCompletedHandler;
use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Ingestd\PimcoreBundle\Tests\Bodies;

final class ConsoleTest extends AppTestCase
{
    private string $id;

    protected function setUp(): void
    {
        $this->id = Bodies::id('console');
    }

    public function testStatusShowsSourceProgressCountsAndFailures(): void
    {
        $this->receive();
        $this->importAll();

        $rows = json_decode($this->console('ingestd:status', '--json'), true);
        self::assertSame([[
            'ingestion_id' => $this->id,
            'source' => 'products/products.json',
            'state' => 'completed',
            'chunks' => 2,
            'received' => 4,
            'imported' => 3,
            'failed' => 1,
            'chunks_imported' => 2,
        ]], array_map(static fn (array $row): array => array_diff_key($row, ['updated_at' => 0]), $rows));
        $failures = json_decode($this->console('ingestd:status', $this->id, '--json'), true);
        self::assertSame([1, 3], [$failures[0]['chunk_number'], $failures[0]['record_index']]);
        self::assertStringContainsString('record 3 asked to fail', $failures[0]['error']);
        self::assertStringContainsString('completed', $this->console('ingestd:status'));
    }

    public function testReplayDispatchesTheStoredChunksAgainAndTheyAreImportedAgain(): void
    {
        $this->receive();
        $this->importAll();
        $before = \count($this->probe()->seen);

        self::assertStringContainsString('Dispatched 2 chunks', $this->console('ingestd:replay', $this->id));
        $short = substr($this->id, 0, 8);
        self::assertSame(["ChunkStored($short,0)", "ChunkStored($short,1)", "IngestionCompleted($short)"], \array_slice($this->sent(), $before));
        $this->importAll();
        self::assertSame(6, (int) $this->db()->fetchOne('SELECT COUNT(*) FROM test_imported'));
        self::assertSame(1, (int) $this->db()->fetchOne('SELECT COUNT(*) FROM ingestd_failure'));
        $this->consoleExit(1, 'ingestd:replay', Bodies::id('unknown'));
    }

    public function testPruneRemovesIngestionsOlderThanTheAgeWithTheirChunks(): void
    {
        $this->receive();
        self::assertStringContainsString('Removed 0', $this->console('ingestd:prune', '--older-than=30d'));
        $this->db()->executeStatement("UPDATE ingestd_ingestion SET updated_at = '2001-01-01 00:00:00'");
        self::assertStringContainsString('Removed 1', $this->console('ingestd:prune', '--older-than=30d'));
        self::assertSame(0, (int) $this->db()->fetchOne('SELECT COUNT(*) FROM ingestd_chunk'));
        $this->consoleExit(2, 'ingestd:prune', '--older-than=month');
    }

    public function testSetupCanPrintItsSqlForAMigration(): void
    {
        $this->boot();
        $sql = $this->console('ingestd:setup', '--dump-sql');
        self::assertStringContainsString('CREATE TABLE ingestd_chunk', $sql);
        self::assertStringContainsString('exists', $this->console('ingestd:setup'));
    }

    private function receive(): void
    {
        $this->boot();
        $records = ['[{"sku":"A"},{"sku":"B"}]', '[{"sku":"C"},{"fail_import":true,"sku":"D"}]'];
        foreach ($records as $n => $json) {
            $body = Bodies::chunk($this->id, $n, $json, 2 * $n);
            [$status, $answer] = $this->post($body, Bodies::headers($body));
            self::assertTrue($answer['ack'], json_encode($answer));
        }
        $body = Bodies::completion($this->id, 2, 4);
        self::assertTrue($this->post($body, Bodies::headers($body))[1]['ack']);
    }

    /** What a messenger:consume worker does with the messages sent so far. */
    private function importAll(): void
    {
        foreach ($this->probe()->seen as $seen) {
            $message = $seen['message'];
            if ($message instanceof ChunkStored) {
                ($this->services()->get(ChunkStoredHandler::class))($message);
            } elseif ($message instanceof IngestionCompleted) {
                ($this->services()->get(IngestionCompletedHandler::class))($message);
            }
        }
    }

    private function db(): \Doctrine\DBAL\Connection
    {
        return $this->services()->get('doctrine.dbal.default_connection');
    }
}
