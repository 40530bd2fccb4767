<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Command;

use Ingestd\PimcoreBundle\Store\Ingestions;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Helper\Table;
use Symfony\Component\Console\Input\InputArgument;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

/** Ingestions with their source, progress, received and imported counts and failures. */
final class StatusCommand extends Command
{
    public function __construct(private readonly Ingestions $ingestions)
    {
        parent::__construct('ingestd:status');
    }

    protected function configure(): void
    {
        $this->setDescription('Show ingestions: source, chunks, records received and imported, failures')
            ->addArgument('ingestion_id', InputArgument::OPTIONAL, 'Show this ingestion\'s failed records')
            ->addOption('limit', null, InputOption::VALUE_REQUIRED, 'How many rows', '20')
            ->addOption('json', null, InputOption::VALUE_NONE, 'One JSON document');
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $limit = (int) $input->getOption('limit');
        $id = $input->getArgument('ingestion_id');
        $rows = \is_string($id) ? $this->ingestions->failures($id, $limit) : array_map([$this, 'row'], $this->ingestions->summaries($limit));
        if ($input->getOption('json')) {
            $output->writeln(json_encode($rows, \JSON_PRETTY_PRINT | \JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE | \JSON_THROW_ON_ERROR));

            return Command::SUCCESS;
        }
        if ([] === $rows) {
            $output->writeln(\is_string($id) ? 'No failed records.' : 'No ingestions.');

            return Command::SUCCESS;
        }
        (new Table($output))->setHeaders(array_keys($rows[0]))->setRows(array_map(
            static fn (array $row): array => array_map(static fn ($v): string => (string) $v, $row),
            $rows,
        ))->render();

        return Command::SUCCESS;
    }

    /**
     * @param array<string, mixed> $summary
     *
     * @return array<string, mixed>
     */
    private function row(array $summary): array
    {
        return [
            'ingestion_id' => $summary['ingestion_id'],
            'source' => $summary['inbox'] . '/' . $summary['file_name'] . (null !== $summary['sheet'] ? '#' . $summary['sheet'] : ''),
            'state' => null !== $summary['completed_at'] ? 'completed' : 'receiving',
            'chunks' => (int) $summary['next_chunk'],
            'received' => (int) $summary['record_count'],
            'imported' => (int) $summary['imported'],
            'failed' => (int) $summary['failed'],
            'chunks_imported' => (int) $summary['chunks_imported'],
            'updated_at' => $summary['updated_at'],
        ];
    }
}
