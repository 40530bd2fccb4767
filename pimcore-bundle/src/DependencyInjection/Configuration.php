<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\DependencyInjection;

use Symfony\Component\Config\Definition\Builder\TreeBuilder;
use Symfony\Component\Config\Definition\ConfigurationInterface;

/** The `ingestd_pimcore:` configuration; every key is optional. */
final class Configuration implements ConfigurationInterface
{
    public function getConfigTreeBuilder(): TreeBuilder
    {
        $tree = new TreeBuilder('ingestd_pimcore');
        $tree->getRootNode()
            ->children()
                ->scalarNode('connection')->defaultValue('doctrine.dbal.default_connection')
                    ->info('Service id of the DBAL connection that holds the tables')->end()
                ->scalarNode('message_bus')->defaultValue('messenger.default_bus')
                    ->info('Service id of the bus ChunkStored and IngestionCompleted are dispatched on')->end()
                ->scalarNode('record_importer')->defaultValue('Ingestd\PimcoreBundle\Import\RecordImporter')
                    ->info('Service id of your RecordImporter')->end()
                ->scalarNode('token')->defaultNull()
                    ->info('Bearer token(s) ingestd must send, space-separated; e.g. %env(INGESTD_TOKEN)%')->end()
                ->scalarNode('token_file')->defaultNull()
                    ->info('A file with one accepted token per line, read on each request')->end()
                ->scalarNode('signing_secret')->defaultNull()
                    ->info('Standard Webhooks secret(s), whsec_..., space-separated (several during a rotation)')->end()
                ->scalarNode('signing_secret_file')->defaultNull()
                    ->info('A file with one whsec_ secret per line, read on each request')->end()
                ->integerNode('signature_tolerance_seconds')->defaultValue(300)->min(1)->end()
                ->integerNode('max_body_bytes')->defaultValue(64 * 1024 * 1024)->min(1)
                    ->info('Larger bodies get HTTP 413: ingestd halves the chunk')->end()
                ->integerNode('max_records')->defaultNull()->min(1)
                    ->info('Hint on every acknowledgement: at most this many records per chunk')->end()
                ->integerNode('max_bytes')->defaultNull()->min(1)
                    ->info('Hint on every acknowledgement: at most this many bytes of records per chunk')->end()
                ->integerNode('stale_claim_seconds')->defaultValue(3600)->min(1)
                    ->info('A chunk claimed by a worker for longer than this is taken over by another')->end()
            ->end();

        return $tree;
    }
}
