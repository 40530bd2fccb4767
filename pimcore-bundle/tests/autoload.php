<?php

declare(strict_types=1);

// Composer's autoloader when the package was installed with Composer; otherwise the libraries
// Debian installs under /usr/share/php (php-symfony-*, php-doctrine-dbal) and this package's
// own namespaces.
$root = dirname(__DIR__);
if (is_file($root . '/vendor/autoload.php')) {
    require $root . '/vendor/autoload.php';

    return;
}
$system = '/usr/share/php';
foreach ([
    'Symfony/Bundle/FrameworkBundle', 'Symfony/Component/Messenger', 'Symfony/Component/Messenger/Bridge/Doctrine',
    'Symfony/Component/Console', 'Symfony/Component/Yaml', 'Doctrine/DBAL', 'Doctrine/Persistence',
] as $package) {
    if (!is_file("$system/$package/autoload.php")) {
        throw new RuntimeException("Missing $system/$package: install Debian's PHP packages (see pimcore-bundle/README.md).");
    }
    require_once "$system/$package/autoload.php";
}
spl_autoload_register(static function (string $class) use ($root, $system): void {
    $prefixes = [
        'Ingestd\\PimcoreBundle\\Tests\\App\\' => $root . '/tests/app/',
        'Ingestd\\PimcoreBundle\\Tests\\' => $root . '/tests/',
        'Ingestd\\PimcoreBundle\\' => $root . '/src/',
        '' => $system . '/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});
