<?php

declare(strict_types=1);

// Front controller of the test application: php -S 127.0.0.1:<port> -t pimcore-bundle/tests/app/public
use Ingestd\PimcoreBundle\Tests\App\Kernel;
use Symfony\Component\HttpFoundation\Request;

require dirname(__DIR__, 2) . '/autoload.php';

$kernel = new Kernel($_SERVER['APP_ENV'] ?? 'prod', (bool) ($_SERVER['APP_DEBUG'] ?? true));
$request = Request::createFromGlobals();
$response = $kernel->handle($request);
$response->send();
$kernel->terminate($request, $response);
