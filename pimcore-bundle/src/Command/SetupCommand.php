<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Command;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\Schema\Schema as DbalSchema;
use Ingestd\PimcoreBundle\Store\Schema;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

/** Creates the bundle's tables that do not exist yet (safe to run again); --dump-sql only prints. */
final class SetupCommand extends Command
{
    public function __construct(private readonly Connection $connection, private readonly Schema $schema)
    {
        parent::__construct('ingestd:setup');
    }

    protected function configure(): void
    {
        $this->setDescription('Create the tables ingestd_ingestion, ingestd_chunk and ingestd_failure')
            ->addOption('dump-sql', null, InputOption::VALUE_NONE, 'Print the SQL instead of running it');
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $wanted = new DbalSchema();
        $this->schema->define($wanted);
        $platform = $this->connection->getDatabasePlatform();
        $existing = $this->connection->createSchemaManager()->listTableNames();
        foreach ($wanted->getTables() as $table) {
            if (\in_array($table->getName(), $existing, true) && !$input->getOption('dump-sql')) {
                $output->writeln(sprintf('%s exists', $table->getName()));
                continue;
            }
            foreach ($platform->getCreateTableSQL($table) as $sql) {
                $input->getOption('dump-sql') ? $output->writeln($sql . ';') : $this->connection->executeStatement($sql);
            }
            if (!$input->getOption('dump-sql')) {
                $output->writeln(sprintf('%s created', $table->getName()));
            }
        }

        return Command::SUCCESS;
    }
}
