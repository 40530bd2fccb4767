<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Controller;

use Ingestd\PimcoreBundle\Callback\CallbackProcessor;
use Ingestd\PimcoreBundle\Verification\CallbackRequest;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;

/** Translates HTTP to the processor and back; nothing else. */
final class CallbackController
{
    public function __construct(private readonly CallbackProcessor $processor)
    {
    }

    public function __invoke(Request $request): JsonResponse
    {
        $headers = [];
        foreach ($request->headers->all() as $name => $values) {
            $headers[strtolower((string) $name)] = implode(', ', array_map('strval', $values));
        }
        $answer = $this->processor->process(new CallbackRequest($headers, (string) $request->getContent()));
        $response = new JsonResponse($answer->body, $answer->status);
        $response->setEncodingOptions(\JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE);

        return $response;
    }
}
