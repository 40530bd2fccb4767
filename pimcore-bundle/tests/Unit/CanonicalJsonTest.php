<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Unit;

use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Tests\Bodies;
use PHPUnit\Framework\TestCase;

final class CanonicalJsonTest extends TestCase
{
    /** @return iterable<string, array{array<string, string>}> */
    public function vectors(): iterable
    {
        foreach (Bodies::vectors() as $vector) {
            yield $vector['name'] => [$vector];
        }
    }

    /**
     * @dataProvider vectors
     *
     * @param array<string, string> $vector
     */
    public function testEveryProtocolVectorEncodesToItsCanonicalBytesAndChecksum(array $vector): void
    {
        $encoder = new CanonicalJson();
        $canonical = $encoder->encode(json_decode($vector['records'], false, 100000, \JSON_THROW_ON_ERROR));

        self::assertSame(base64_decode($vector['canonical_base64'], true), $canonical);
        self::assertSame($vector['sha256'], $encoder->checksum($canonical));
    }

    public function testFloatsDoNotDependOnTheSerializePrecisionSetting(): void
    {
        $before = ini_set('serialize_precision', '17');
        try {
            $encoder = new CanonicalJson();
            self::assertSame('[0.1,1e+16,0.00001,5e-324,-0.0,100.0]', $encoder->encode([0.1, 1e16, 1e-5, 5e-324, -0.0, 100.0]));
        } finally {
            ini_set('serialize_precision', (string) $before);
        }
    }

    public function testAnObjectWithIntegerLikeKeysStaysAnObject(): void
    {
        $encoder = new CanonicalJson();

        self::assertSame('{"0":"a","1":"b","10":"c","2":"d"}', $encoder->encode(json_decode('{"1":"b","0":"a","2":"d","10":"c"}')));
        self::assertSame('[{},[]]', $encoder->encode(json_decode('[{},[]]')));
    }

    public function testNonFiniteNumbersHaveNoCanonicalForm(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        (new CanonicalJson())->encode([\INF]);
    }
}
