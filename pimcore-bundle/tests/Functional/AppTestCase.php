<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Functional;

use Ingestd\PimcoreBundle\Tests\App\DispatchProbe;
use Ingestd\PimcoreBundle\Tests\App\Kernel;
use PHPUnit\Framework\TestCase;
use Symfony\Component\DependencyInjection\ContainerInterface;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\Messenger\Transport\InMemoryTransport;

/** Boots the test application (in-memory transport) on a fresh SQLite file per test. */
abstract class AppTestCase extends TestCase
{
    private static ?string $varDir = null;
    protected Kernel $kernel;
    protected string $database;

    public static function setUpBeforeClass(): void
    {
        self::$varDir ??= sys_get_temp_dir() . '/ingestd-bundle-tests-' . getmypid();
        self::setEnv('INGESTD_APP_VAR_DIR', self::$varDir);
    }

    /** @param array<string, mixed> $config ingestd_pimcore settings */
    protected function boot(array $config = []): void
    {
        $this->database = tempnam(sys_get_temp_dir(), 'ingestd-bundle') . '.db';
        self::setEnv('DATABASE_URL', 'sqlite:///' . $this->database);
        $this->kernel = new Kernel('test', true, $config);
        $this->kernel->boot();
        $this->console('ingestd:setup');
    }

    protected function tearDown(): void
    {
        if (isset($this->kernel)) {
            $this->kernel->shutdown();
            @unlink($this->database);
        }
    }

    /**
     * @param array<string, string> $headers
     *
     * @return array{int, array<string, mixed>}
     */
    protected function post(string $body, array $headers, string $method = 'POST'): array
    {
        $server = [];
        foreach ($headers as $name => $value) {
            $key = strtoupper(str_replace('-', '_', $name));
            $server[\in_array($key, ['CONTENT_TYPE', 'CONTENT_LENGTH'], true) ? $key : 'HTTP_' . $key] = $value;
        }
        $response = $this->kernel->handle(Request::create('/ingestd/callback', $method, [], [], [], $server, $body));
        $decoded = json_decode((string) $response->getContent(), true);

        return [$response->getStatusCode(), \is_array($decoded) ? $decoded : []];
    }

    protected function console(string ...$arguments): string
    {
        return $this->consoleExit(0, ...$arguments);
    }

    protected function consoleExit(int $expected, string ...$arguments): string
    {
        $application = new \Symfony\Bundle\FrameworkBundle\Console\Application($this->kernel);
        $application->setAutoExit(false);
        $output = new \Symfony\Component\Console\Output\BufferedOutput();
        $code = $application->run(new \Symfony\Component\Console\Input\ArrayInput(['command' => array_shift($arguments)] + $this->arguments($arguments)), $output);
        $text = $output->fetch();
        self::assertSame($expected, $code, $text);

        return $text;
    }

    protected function services(): ContainerInterface
    {
        return $this->kernel->getContainer()->get('test.service_container');
    }

    protected function transport(): InMemoryTransport
    {
        $transport = $this->services()->get('messenger.transport.ingestd');
        self::assertInstanceOf(InMemoryTransport::class, $transport);

        return $transport;
    }

    protected function probe(): DispatchProbe
    {
        $probe = $this->services()->get('ingestd_test.probe');
        self::assertInstanceOf(DispatchProbe::class, $probe);

        return $probe;
    }

    /** @return list<string> the messages dispatched since boot, as "Class(args)" */
    protected function sent(): array
    {
        return array_map(static function (array $seen): string {
            $message = $seen['message'];
            $parts = explode('\\', $message::class);

            return end($parts) . '(' . implode(',', array_map(static fn ($v): string => substr((string) $v, 0, 8), get_object_vars($message))) . ')';
        }, $this->probe()->seen);
    }

    /**
     * @param list<string> $arguments
     *
     * @return array<string, string|bool>
     */
    private function arguments(array $arguments): array
    {
        $parsed = [];
        foreach ($arguments as $argument) {
            if (str_starts_with($argument, '--')) {
                [$name, $value] = array_pad(explode('=', $argument, 2), 2, true);
                $parsed[$name] = $value;
            } else {
                $parsed['ingestion_id'] = $argument;
            }
        }

        return $parsed;
    }

    private static function setEnv(string $name, string $value): void
    {
        $_SERVER[$name] = $_ENV[$name] = $value;
        putenv("$name=$value");
    }
}
