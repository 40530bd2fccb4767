<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/**
 * Writes decoded JSON in the protocol's canonical form, the bytes the chunk checksum covers.
 *
 * Input comes from json_decode($json, false): objects are stdClass (so {} stays an object),
 * arrays are lists. PHP's json_encode differs from the canonical form in float notation and
 * would turn an object with keys "0", "1" into a list, so containers and floats are written
 * here and only strings go through json_encode.
 */
final class CanonicalJson
{
    private const STRING_FLAGS = \JSON_UNESCAPED_UNICODE | \JSON_UNESCAPED_SLASHES
        | \JSON_UNESCAPED_LINE_TERMINATORS | \JSON_THROW_ON_ERROR;

    /** @param mixed $value */
    public function encode($value): string
    {
        if (\is_string($value)) {
            return json_encode($value, self::STRING_FLAGS);
        }
        if (\is_int($value)) {
            return (string) $value;
        }
        if (\is_float($value)) {
            return $this->float($value);
        }
        if (\is_array($value)) {
            return '[' . implode(',', array_map([$this, 'encode'], $value)) . ']';
        }
        if ($value instanceof \stdClass) {
            return $this->object($value);
        }
        if (\is_bool($value)) {
            return $value ? 'true' : 'false';
        }
        if (null === $value) {
            return 'null';
        }
        throw new \InvalidArgumentException(sprintf('No canonical form for %s.', get_debug_type($value)));
    }

    /** The SHA-256 (lowercase hex) of the canonical form: what a chunk's `checksum` names. */
    public function checksum(string $canonical): string
    {
        return hash('sha256', $canonical);
    }

    private function object(\stdClass $object): string
    {
        $members = get_object_vars($object);
        // Byte order of UTF-8 keys is code-point order; numeric keys arrive as ints.
        ksort($members, \SORT_STRING);
        $parts = [];
        foreach ($members as $key => $member) {
            $parts[] = json_encode((string) $key, self::STRING_FLAGS) . ':' . $this->encode($member);
        }

        return '{' . implode(',', $parts) . '}';
    }

    /** Shortest round-trip digits, in decimal notation for 1e-5 <= |x| < 1e16, else 1e+16 style. */
    private function float(float $value): string
    {
        if (!is_finite($value)) {
            throw new \InvalidArgumentException('JSON has no infinity or NaN.');
        }
        if (0.0 === $value) {
            return fdiv(1.0, $value) < 0 ? '-0.0' : '0.0';
        }
        [$sign, $digits, $exponent] = $this->shortest($value);
        if ($exponent >= -5 && $exponent < 16) {
            return $sign . $this->decimal($digits, $exponent + 1);
        }
        $mantissa = 1 === \strlen($digits) ? $digits : $digits[0] . '.' . substr($digits, 1);

        return $sign . $mantissa . 'e' . ($exponent < 0 ? '-' : '+') . abs($exponent);
    }

    /**
     * The fewest significant digits that read back as the same double, without depending on
     * the serialize_precision setting.
     *
     * @return array{string, string, int} sign, digits without trailing zeros, decimal exponent
     */
    private function shortest(float $value): array
    {
        for ($precision = 0; $precision < 17; ++$precision) {
            $text = sprintf('%.' . $precision . 'e', $value);
            if ((float) $text === $value) {
                break;
            }
        }
        preg_match('/^(-?)(\d)(?:\.(\d+))?e([+-]?\d+)$/', $text, $parts);
        $digits = rtrim($parts[2] . ($parts[3] ?? ''), '0');

        return [$parts[1], '' === $digits ? '0' : $digits, (int) $parts[4]];
    }

    private function decimal(string $digits, int $point): string
    {
        if ($point <= 0) {
            return '0.' . str_repeat('0', -$point) . $digits;
        }
        if ($point >= \strlen($digits)) {
            return $digits . str_repeat('0', $point - \strlen($digits)) . '.0';
        }

        return substr($digits, 0, $point) . '.' . substr($digits, $point);
    }
}
