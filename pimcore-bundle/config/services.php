<?php

declare(strict_types=1);

use Ingestd\PimcoreBundle\Callback\CallbackProcessor;
use Ingestd\PimcoreBundle\Callback\Hints;
use Ingestd\PimcoreBundle\Command\PruneCommand;
use Ingestd\PimcoreBundle\Command\ReplayCommand;
use Ingestd\PimcoreBundle\Command\SetupCommand;
use Ingestd\PimcoreBundle\Command\StatusCommand;
use Ingestd\PimcoreBundle\Controller\CallbackController;
use Ingestd\PimcoreBundle\Import\ChunkImporter;
use Ingestd\PimcoreBundle\Import\ChunkStoredHandler;
use Ingestd\PimcoreBundle\Import\IngestionCompletedHandler;
use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Protocol\PayloadParser;
use Ingestd\PimcoreBundle\Store\ChunkStore;
use Ingestd\PimcoreBundle\Store\ImportLedger;
use Ingestd\PimcoreBundle\Store\Ingestions;
use Ingestd\PimcoreBundle\Store\Schema;
use Ingestd\PimcoreBundle\Verification\BodySizeVerifier;
use Ingestd\PimcoreBundle\Verification\ChecksumVerifier;
use Ingestd\PimcoreBundle\Verification\ContentDigestVerifier;
use Ingestd\PimcoreBundle\Verification\Secrets;
use Ingestd\PimcoreBundle\Verification\SignatureVerifier;
use Ingestd\PimcoreBundle\Verification\TokenVerifier;
use Symfony\Component\DependencyInjection\Loader\Configurator\ContainerConfigurator;

use function Symfony\Component\DependencyInjection\Loader\Configurator\inline_service;
use function Symfony\Component\DependencyInjection\Loader\Configurator\param;
use function Symfony\Component\DependencyInjection\Loader\Configurator\service;

return static function (ContainerConfigurator $container): void {
    $services = $container->services()->defaults()->private();
    $connection = service('ingestd_pimcore.connection');
    $logger = service('logger')->nullOnInvalid();

    $services->set(CanonicalJson::class);
    $services->set(PayloadParser::class)->args([service(CanonicalJson::class)]);
    $services->set(ChecksumVerifier::class)->args([service(CanonicalJson::class)]);
    $services->set(Schema::class);
    $services->set(ChunkStore::class)->args([$connection]);
    $services->set(ImportLedger::class)->args([$connection, param('ingestd_pimcore.stale_claim_seconds')]);
    $services->set(Ingestions::class)->args([$connection]);

    // The checks, in the order docs/protocol.md gives them.
    $services->set('ingestd_pimcore.verifier.body_size', BodySizeVerifier::class)
        ->args([param('ingestd_pimcore.max_body_bytes')]);
    $services->set('ingestd_pimcore.verifier.token', TokenVerifier::class)
        ->args([inline_service(Secrets::class)->args([param('ingestd_pimcore.token'), param('ingestd_pimcore.token_file')])]);
    $services->set('ingestd_pimcore.verifier.signature', SignatureVerifier::class)->args([
        inline_service(Secrets::class)->args([param('ingestd_pimcore.signing_secret'), param('ingestd_pimcore.signing_secret_file')]),
        param('ingestd_pimcore.signature_tolerance_seconds'),
    ]);
    $services->set('ingestd_pimcore.verifier.content_digest', ContentDigestVerifier::class);

    $services->set(Hints::class)->args([param('ingestd_pimcore.max_records'), param('ingestd_pimcore.max_bytes')]);
    $services->set(CallbackProcessor::class)->args([
        [
            service('ingestd_pimcore.verifier.body_size'),
            service('ingestd_pimcore.verifier.token'),
            service('ingestd_pimcore.verifier.signature'),
            service('ingestd_pimcore.verifier.content_digest'),
        ],
        service(PayloadParser::class),
        service(ChecksumVerifier::class),
        service(ChunkStore::class),
        service('ingestd_pimcore.message_bus'),
        service(Hints::class),
        $logger,
    ]);
    $services->set(CallbackController::class)->public()->args([service(CallbackProcessor::class)])
        ->tag('controller.service_arguments');

    $services->set(ChunkImporter::class)->args([service(ImportLedger::class), service('ingestd_pimcore.record_importer'), $logger]);
    $services->set(ChunkStoredHandler::class)->args([service(ChunkImporter::class)])
        ->tag('messenger.message_handler', ['handles' => ChunkStored::class]);
    $services->set(IngestionCompletedHandler::class)->args([service(ChunkImporter::class)])
        ->tag('messenger.message_handler', ['handles' => IngestionCompleted::class]);

    $services->set(SetupCommand::class)->args([$connection, service(Schema::class)])
        ->tag('console.command', ['command' => 'ingestd:setup']);
    $services->set(StatusCommand::class)->args([service(Ingestions::class)])
        ->tag('console.command', ['command' => 'ingestd:status']);
    $services->set(ReplayCommand::class)->args([service(Ingestions::class), service(ImportLedger::class), service('ingestd_pimcore.message_bus')])
        ->tag('console.command', ['command' => 'ingestd:replay']);
    $services->set(PruneCommand::class)->args([service(Ingestions::class)])
        ->tag('console.command', ['command' => 'ingestd:prune']);
};
