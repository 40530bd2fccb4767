<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle;

use Symfony\Component\HttpKernel\Bundle\Bundle;

/** Receives ingestd's chunks at /ingestd/callback and hands them to the project's RecordImporter. */
final class IngestdPimcoreBundle extends Bundle
{
    /** config/ and the routes sit beside src/, as in Symfony's recommended bundle layout. */
    public function getPath(): string
    {
        return \dirname(__DIR__);
    }
}
