<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Import;

/**
 * The one interface a project implements: map one record to its data objects.
 *
 * Called by a Messenger worker, once per record, in file order. Throw to record a failure for
 * this record (it is kept in `ingestd_failure`, the chunk's other records are still imported).
 * A worker killed mid-chunk imports that chunk again from its first record, so write an
 * upsert (find by key, then update or create), not a blind insert.
 */
interface RecordImporter
{
    /** @param array<string, mixed> $record */
    public function import(array $record, RecordContext $context): void;
}
