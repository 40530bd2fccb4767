<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Command;

use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Ingestd\PimcoreBundle\Store\ImportLedger;
use Ingestd\PimcoreBundle\Store\Ingestions;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Input\InputArgument;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Output\OutputInterface;
use Symfony\Component\Messenger\MessageBusInterface;

/** Forgets an ingestion's import and dispatches its stored chunks again (after fixing the importer). */
final class ReplayCommand extends Command
{
    public function __construct(
        private readonly Ingestions $ingestions,
        private readonly ImportLedger $ledger,
        private readonly MessageBusInterface $bus,
    ) {
        parent::__construct('ingestd:replay');
    }

    protected function configure(): void
    {
        $this->setDescription('Import an ingestion\'s stored chunks again')
            ->addArgument('ingestion_id', InputArgument::REQUIRED, 'The ingestion, as ingestd:status shows it');
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $id = (string) $input->getArgument('ingestion_id');
        $completed = $this->ingestions->isCompleted($id);
        if (null === $completed) {
            $output->writeln(sprintf('<error>No ingestion %s.</error>', $id));

            return Command::FAILURE;
        }
        $chunks = $this->ledger->reset($id);
        foreach ($chunks as $number) {
            $this->bus->dispatch(new ChunkStored($id, $number));
        }
        if ($completed) {
            $this->bus->dispatch(new IngestionCompleted($id));
        }
        $output->writeln(sprintf('Dispatched %d chunks of %s again%s.', \count($chunks), $id, $completed ? ' and its completion' : ''));

        return Command::SUCCESS;
    }
}
