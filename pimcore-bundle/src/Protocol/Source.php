<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Protocol;

/** Where an ingestion's records come from: the inbox and the dropped file. */
final class Source
{
    public function __construct(
        public readonly string $inbox,
        public readonly string $fileName,
        public readonly string $fileType,
        public readonly ?string $sheet = null,
    ) {
    }

    /** @param mixed $source the payload's `source` object, decoded */
    public static function fromPayload($source): self
    {
        $field = static fn (string $name): string => $source instanceof \stdClass && \is_scalar($source->{$name} ?? null)
            ? (string) $source->{$name} : '';

        $sheet = $field('sheet');

        return new self($field('inbox'), $field('file_name'), $field('file_type'), '' === $sheet ? null : $sheet);
    }
}
