<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\App;

use Doctrine\DBAL\Connection;
use Doctrine\Persistence\ConnectionRegistry as Registry;

/** The one connection, under the name "default", for Messenger's doctrine:// transport. */
final class ConnectionRegistry implements Registry
{
    public function __construct(private readonly Connection $connection)
    {
    }

    public function getDefaultConnectionName(): string
    {
        return 'default';
    }

    public function getConnection(?string $name = null): object
    {
        if (null !== $name && 'default' !== $name) {
            throw new \InvalidArgumentException(sprintf('No connection "%s".', $name));
        }

        return $this->connection;
    }

    /** @return array<string, object> */
    public function getConnections(): array
    {
        return ['default' => $this->connection];
    }

    /** @return array<string, string> */
    public function getConnectionNames(): array
    {
        return ['default' => 'doctrine.dbal.default_connection'];
    }
}
