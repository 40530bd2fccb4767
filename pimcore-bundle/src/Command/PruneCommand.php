<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Command;

use Ingestd\PimcoreBundle\Store\Ingestions;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

/** Deletes ingestions (chunks, failures) not touched for a while: `--older-than 30d` (s, m, h, d). */
final class PruneCommand extends Command
{
    private readonly \Closure $now;

    public function __construct(private readonly Ingestions $ingestions, ?\Closure $now = null)
    {
        parent::__construct('ingestd:prune');
        $this->now = $now ?? static fn (): \DateTimeImmutable => new \DateTimeImmutable();
    }

    protected function configure(): void
    {
        $this->setDescription('Delete stored ingestions older than an age')
            ->addOption('older-than', null, InputOption::VALUE_REQUIRED, 'An age: 30d, 12h, 90m, 3600s', '30d');
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $age = (string) $input->getOption('older-than');
        if (!preg_match('/^(\d+)([smhd])$/D', $age, $parts)) {
            $output->writeln(sprintf('<error>--older-than wants a number and a unit (s, m, h, d), not "%s".</error>', $age));

            return Command::INVALID;
        }
        $seconds = (int) $parts[1] * ['s' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400][$parts[2]];
        $removed = $this->ingestions->prune(($this->now)()->modify(sprintf('-%d seconds', $seconds)));
        $output->writeln(sprintf('Removed %d ingestions not updated for %s.', $removed, $age));

        return Command::SUCCESS;
    }
}
