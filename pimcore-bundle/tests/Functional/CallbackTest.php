<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Functional;

use Ingestd\PimcoreBundle\Tests\Bodies;

final class CallbackTest extends AppTestCase
{
    private string $id;

    protected function setUp(): void
    {
        $this->id = Bodies::id('functional');
    }

    public function testEachAnswerOfTheProtocol(): void
    {
        $this->boot();
        $vector = Bodies::vector('several records');
        $records = json_decode($vector['records'], true);
        $count = \count($records);

        self::assertSame([200, ['ack' => true, 'ingestion_id' => $this->id, 'chunk_number' => 0]], $this->send($this->chunk(0)));
        self::assertSame([200, ['ack' => true, 'ingestion_id' => $this->id, 'chunk_number' => 0, 'duplicate' => true]], $this->send($this->chunk(0)));
        self::assertSame([200, ['ack' => false, 'error' => 'Out-of-order chunk', 'expected_chunk' => 1]], $this->send($this->chunk(2)));
        self::assertSame([200, ['ack' => false, 'error' => 'Checksum mismatch']], $this->send(Bodies::chunk($this->id, 1, $vector['records'], $count, str_repeat('0', 64))));
        $body = $this->chunk(1);
        self::assertSame([200, ['ack' => false, 'error' => 'Checksum mismatch', 'detail' => 'Content-Digest does not match the body']], $this->post($body, Bodies::headers($body . ' ')));
        self::assertSame(200, $this->send(Bodies::completion($this->id, 1, $count + 1))[0]);
        self::assertSame('Completion does not match: received 1 chunks and ' . $count . ' records', $this->send(Bodies::completion($this->id, 1, $count + 1))[1]['error']);
        self::assertSame([200, ['ack' => true, 'ingestion_id' => $this->id, 'chunk_number' => 1]], $this->send($this->chunk(1)));
        self::assertSame([200, ['ack' => true, 'ingestion_id' => $this->id, 'chunk_number' => 1]], $this->send(Bodies::completion($this->id, 2, 2 * $count)));
        self::assertSame(400, $this->send('{"type": "chunk"')[0]);
        self::assertSame(405, $this->post('{}', [], 'GET')[0]);
    }

    public function testMessagesAreDispatchedAfterTheCommitOncePerStoredChunk(): void
    {
        $this->boot();
        $this->send($this->chunk(0));
        $this->send($this->chunk(0));
        $this->send($this->chunk(1));
        $this->send(Bodies::completion($this->id, 2, 2 * $this->perChunk()));
        $this->send(Bodies::completion($this->id, 2, 2 * $this->perChunk()));

        $short = substr($this->id, 0, 8);
        self::assertSame(["ChunkStored($short,0)", "ChunkStored($short,1)", "IngestionCompleted($short)"], $this->sent());
        self::assertCount(3, $this->probe()->seen);
        foreach ($this->probe()->seen as $seen) {
            self::assertFalse($seen['in_transaction'], 'dispatched inside the transaction');
            self::assertTrue($seen['committed'], 'dispatched before the row was visible to another connection');
        }
    }

    public function testAFailedDispatchIsRetriableAndTheResendDispatchesIt(): void
    {
        $this->boot();
        $this->probe()->failNext();
        self::assertSame([503, ['ack' => false, 'error' => 'Stored, but the import queue is unavailable']], $this->send($this->chunk(0)));
        self::assertSame([], $this->sent());

        self::assertTrue($this->send($this->chunk(0))[1]['ack']);
        self::assertSame(['ChunkStored(' . substr($this->id, 0, 8) . ',0)'], $this->sent());
        self::assertCount(1, $this->transport()->getSent());
        self::assertSame(1, (int) $this->scalar('SELECT COUNT(*) FROM ingestd_chunk'));
    }

    public function testATokenAndASignatureAreDemandedWhenConfigured(): void
    {
        $this->boot(['token' => 'the-token', 'signing_secret' => Bodies::SECRET]);
        $body = $this->chunk(0);
        $signed = Bodies::headers($body, [Bodies::SECRET]);

        self::assertSame([401, ['ack' => false, 'error' => 'Bad token']], $this->post($body, $signed));
        self::assertSame([401, ['ack' => false, 'error' => 'Bad signature']], $this->post($body, ['authorization' => 'Bearer the-token'] + Bodies::headers($body)));
        self::assertSame([], $this->sent());
        self::assertTrue($this->post($body, ['authorization' => 'Bearer the-token'] + $signed)[1]['ack']);
    }

    public function testBackPressureHintsOnEveryAcknowledgementAnd413AboveTheBodyLimit(): void
    {
        $this->boot(['max_records' => 100, 'max_bytes' => 5000, 'max_body_bytes' => 2000]);
        self::assertSame(
            [200, ['ack' => true, 'ingestion_id' => $this->id, 'chunk_number' => 0, 'max_records' => 100, 'max_bytes' => 5000]],
            $this->send($this->chunk(0)),
        );
        $big = Bodies::chunk($this->id, 1, '[{"text":"' . str_repeat('x', 2000) . '"}]', $this->perChunk());
        self::assertSame([413, ['ack' => false, 'error' => 'Payload too large']], $this->send($big));
        self::assertSame(1, (int) $this->scalar('SELECT COUNT(*) FROM ingestd_chunk'));
    }

    private function perChunk(): int
    {
        return \count(json_decode(Bodies::vector('several records')['records'], true));
    }

    private function chunk(int $number): string
    {
        $vector = Bodies::vector('several records');

        return Bodies::chunk($this->id, $number, $vector['records'], $number * $this->perChunk(), $vector['sha256']);
    }

    /** @return array{int, array<string, mixed>} */
    private function send(string $body): array
    {
        return $this->post($body, Bodies::headers($body));
    }

    private function scalar(string $sql): mixed
    {
        return $this->services()->get('doctrine.dbal.default_connection')->fetchOne($sql);
    }
}
