<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\App;

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\DriverManager;
use Ingestd\PimcoreBundle\IngestdPimcoreBundle;
use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Symfony\Bundle\FrameworkBundle\FrameworkBundle;
use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Component\DependencyInjection\Loader\Configurator\ContainerConfigurator;
use Symfony\Component\HttpKernel\Kernel as BaseKernel;
use Symfony\Component\Messenger\Bridge\Doctrine\Transport\DoctrineTransportFactory;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

use function Symfony\Component\DependencyInjection\Loader\Configurator\service;

/**
 * The smallest Symfony application with the bundle, wired as in a Pimcore project: a DBAL
 * connection at doctrine.dbal.default_connection (from DATABASE_URL), Messenger with the
 * doctrine transport (in-memory in the "test" environment), the routes imported.
 */
final class Kernel extends BaseKernel
{
    use MicroKernelTrait;

    /** @param array<string, mixed> $bundleConfig ingestd_pimcore settings for a test */
    public function __construct(string $environment, bool $debug, private readonly array $bundleConfig = [])
    {
        parent::__construct($environment, $debug);
    }

    public function registerBundles(): iterable
    {
        return [new FrameworkBundle(), new IngestdPimcoreBundle()];
    }

    public function getProjectDir(): string
    {
        return __DIR__;
    }

    public function getCacheDir(): string
    {
        $variant = [] === $this->bundleConfig ? '' : '-' . md5(serialize($this->bundleConfig));

        return $this->varDir() . '/cache/' . $this->environment . $variant;
    }

    public function getLogDir(): string
    {
        return $this->varDir() . '/log';
    }

    protected function configureContainer(ContainerConfigurator $container): void
    {
        $test = 'test' === $this->environment;
        $messenger = [
            'reset_on_message' => true,
            'transports' => ['ingestd' => $test ? 'in-memory://' : 'doctrine://default?queue_name=ingestd'],
            'routing' => [ChunkStored::class => 'ingestd', IngestionCompleted::class => 'ingestd'],
        ];
        if ($test) {
            $messenger['buses'] = ['messenger.bus.default' => ['middleware' => ['ingestd_test.probe']]];
        }
        $container->extension('framework', [
            'secret' => 'ingestd-test-app',
            'http_method_override' => false,
            'test' => $test,
            'router' => ['utf8' => true],
            'messenger' => $messenger,
        ]);
        $container->extension('ingestd_pimcore', $this->bundleConfig + [
            'token' => '%env(INGESTD_TOKEN)%',
            'signing_secret' => '%env(INGESTD_SIGNING_SECRET)%',
        ]);
        // Unset variables mean "not configured", as in a project's .env.
        $container->parameters()
            ->set('env(INGESTD_TOKEN)', '')
            ->set('env(INGESTD_SIGNING_SECRET)', '');

        $services = $container->services();
        $services->set('doctrine.dbal.default_connection', Connection::class)->public()
            ->factory([DriverManager::class, 'getConnection'])
            ->args([['url' => '%env(DATABASE_URL)%', 'charset' => 'utf8mb4']]);
        // What DoctrineBundle provides in Pimcore: the registry the doctrine:// transport asks.
        $services->set('ingestd_test.registry', ConnectionRegistry::class)
            ->args([service('doctrine.dbal.default_connection')]);
        $services->set('messenger.transport.doctrine.factory', DoctrineTransportFactory::class)
            ->args([service('ingestd_test.registry')])
            ->tag('messenger.transport_factory');
        $services->set(TestRecordImporter::class)->args([service('doctrine.dbal.default_connection')]);
        $services->alias(\Ingestd\PimcoreBundle\Import\RecordImporter::class, TestRecordImporter::class);
        if ($test) {
            $services->set('logger', \Psr\Log\NullLogger::class);
            $services->set('ingestd_test.probe', DispatchProbe::class)->public()
                ->args([service('doctrine.dbal.default_connection'), '%env(DATABASE_URL)%']);
        }
    }

    protected function configureRoutes(RoutingConfigurator $routes): void
    {
        $routes->import('@IngestdPimcoreBundle/config/routes.php');
    }

    private function varDir(): string
    {
        $dir = $_SERVER['INGESTD_APP_VAR_DIR'] ?? getenv('INGESTD_APP_VAR_DIR');

        return \is_string($dir) && '' !== $dir ? $dir : __DIR__ . '/var';
    }
}
