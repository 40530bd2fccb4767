<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\DependencyInjection;

use Symfony\Component\Config\FileLocator;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\Extension\Extension;
use Symfony\Component\DependencyInjection\Loader\PhpFileLoader;

/** Loads config/services.php with the configuration as `ingestd_pimcore.*` parameters and aliases. */
final class IngestdPimcoreExtension extends Extension
{
    /** @param array<array<string, mixed>> $configs */
    public function load(array $configs, ContainerBuilder $container): void
    {
        $config = $this->processConfiguration(new Configuration(), $configs);
        foreach ($config as $key => $value) {
            $container->setParameter('ingestd_pimcore.' . $key, $value);
        }
        $container->setAlias('ingestd_pimcore.connection', (string) $config['connection']);
        $container->setAlias('ingestd_pimcore.message_bus', (string) $config['message_bus']);
        $container->setAlias('ingestd_pimcore.record_importer', (string) $config['record_importer']);
        (new PhpFileLoader($container, new FileLocator(\dirname(__DIR__, 2) . '/config')))->load('services.php');
    }

    public function getAlias(): string
    {
        return 'ingestd_pimcore';
    }
}
