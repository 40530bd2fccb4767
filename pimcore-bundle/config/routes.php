<?php

declare(strict_types=1);

use Ingestd\PimcoreBundle\Controller\CallbackController;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

// Import with a prefix to move it: `prefix: /api` serves /api/ingestd/callback.
return static function (RoutingConfigurator $routes): void {
    $routes->add('ingestd_callback', '/ingestd/callback')
        ->controller(CallbackController::class)
        ->methods(['POST']);
};
