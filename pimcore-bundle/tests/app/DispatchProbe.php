<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\App;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\DriverManager;
use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Middleware\MiddlewareInterface;
use Symfony\Component\Messenger\Middleware\StackInterface;

/**
 * Middleware on the test bus: for each message, notes whether a transaction was open and
 * whether a second connection (which sees only committed rows) finds what the message names.
 * failNext() makes the next dispatch throw, as a broken transport would; seen lists what passed.
 */
final class DispatchProbe implements MiddlewareInterface
{
    /** @var list<array{message: object, in_transaction: bool, committed: bool}> */
    public array $seen = [];
    private int $failures = 0;

    public function __construct(private readonly Connection $connection, private readonly string $url)
    {
    }

    public function failNext(int $times = 1): void
    {
        $this->failures = $times;
    }

    public function handle(Envelope $envelope, StackInterface $stack): Envelope
    {
        $message = $envelope->getMessage();
        $seen = [
            'message' => $message,
            'in_transaction' => $this->connection->isTransactionActive(),
            'committed' => $this->committed($message),
        ];
        if ($this->failures > 0) {
            --$this->failures;
            throw new \RuntimeException('transport down');
        }
        $envelope = $stack->next()->handle($envelope, $stack);
        // Kept across requests: the kernel resets the in-memory transport before each one.
        $this->seen[] = $seen;

        return $envelope;
    }

    private function committed(object $message): bool
    {
        $other = DriverManager::getConnection(['url' => $this->url]);
        try {
            if ($message instanceof ChunkStored) {
                return false !== $other->fetchOne(
                    'SELECT 1 FROM ingestd_chunk WHERE ingestion_id = ? AND chunk_number = ?',
                    [$message->ingestionId, $message->chunkNumber],
                );
            }
            if ($message instanceof IngestionCompleted) {
                return null !== ($other->fetchOne(
                    'SELECT completed_at FROM ingestd_ingestion WHERE ingestion_id = ?',
                    [$message->ingestionId],
                ) ?: null);
            }

            return false;
        } finally {
            $other->close();
        }
    }
}
