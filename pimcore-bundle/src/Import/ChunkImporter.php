<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

use Ingestd\PimcoreBundle\Store\ImportLedger;
use Psr\Log\LoggerInterface;
use Psr\Log\NullLogger;

/**
 * Imports stored chunks through the project's RecordImporter, record by record in file order;
 * a record that throws is kept as a failure and the rest of the chunk goes on.
 */
final class ChunkImporter
{
    public function __construct(
        private readonly ImportLedger $ledger,
        private readonly RecordImporter $importer,
        private readonly LoggerInterface $logger = new NullLogger(),
    ) {
    }

    /**
     * Every chunk of the ingestion not imported yet, up to $upTo: a message lost between a
     * commit and its dispatch is made up for by the next one.
     */
    public function importUpTo(string $ingestionId, ?int $upTo = null): void
    {
        foreach ($this->ledger->pending($ingestionId, $upTo) as $chunkNumber) {
            $chunk = $this->ledger->claim($ingestionId, $chunkNumber);
            if (null !== $chunk) {
                $this->import($chunk);
            }
        }
    }

    private function import(StoredChunk $chunk): void
    {
        $records = json_decode($chunk->records, true, 100000, \JSON_THROW_ON_ERROR);
        $failures = [];
        foreach ($records as $position => $record) {
            $index = $chunk->recordOffset + $position;
            $context = new RecordContext(
                $chunk->ingestionId,
                $chunk->inbox,
                $chunk->fileName,
                $chunk->fileType,
                $chunk->sheet,
                $chunk->chunkNumber,
                $index,
            );
            try {
                $this->importer->import($record, $context);
            } catch (\Throwable $error) {
                $failures[$index] = $error::class . ': ' . $error->getMessage();
                $this->logger->warning('ingestd record {index} of {file} failed to import: {error}', [
                    'index' => $index, 'file' => $chunk->fileName, 'error' => $error->getMessage(), 'exception' => $error,
                ]);
            }
        }
        $this->ledger->imported($chunk, \count($records) - \count($failures), $failures);
    }
}
