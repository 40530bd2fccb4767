<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Callback;

use Ingestd\PimcoreBundle\Message\ChunkStored;
use Ingestd\PimcoreBundle\Message\IngestionCompleted;
use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\PayloadParser;
use Ingestd\PimcoreBundle\Protocol\Refused;
use Ingestd\PimcoreBundle\Store\ChunkStore;
use Ingestd\PimcoreBundle\Store\Receipt;
use Ingestd\PimcoreBundle\Verification\CallbackRequest;
use Ingestd\PimcoreBundle\Verification\ChecksumVerifier;
use Ingestd\PimcoreBundle\Verification\RequestVerifier;
use Psr\Log\LoggerInterface;
use Psr\Log\NullLogger;
use Symfony\Component\Messenger\MessageBusInterface;

/**
 * The receiving policy, step by step: verify the request, decode it, verify the checksum,
 * store it (one transaction), hand it to the bus, and only then acknowledge.
 */
final class CallbackProcessor
{
    /** @param iterable<RequestVerifier> $verifiers in the protocol's order */
    public function __construct(
        private readonly iterable $verifiers,
        private readonly PayloadParser $parser,
        private readonly ChecksumVerifier $checksum,
        private readonly ChunkStore $store,
        private readonly MessageBusInterface $bus,
        private readonly Hints $hints,
        private readonly LoggerInterface $logger = new NullLogger(),
    ) {
    }

    public function process(CallbackRequest $request): Answer
    {
        try {
            foreach ($this->verifiers as $verifier) {
                $verifier->verify($request);
            }
            $payload = $this->parser->parse($request->body);
            if ($payload instanceof Chunk) {
                $this->checksum->verify($payload);
                $receipt = $this->store->store($payload);
            } else {
                $receipt = $this->store->complete($payload);
            }
        } catch (Refused $refused) {
            $this->logger->info('ingestd request refused: {error}', ['error' => $refused->getMessage()]);

            return $refused->answer;
        }

        return $this->handOff($receipt);
    }

    private function handOff(Receipt $receipt): Answer
    {
        if ($receipt->needsDispatch) {
            try {
                $this->bus->dispatch($receipt->completion
                    ? new IngestionCompleted($receipt->ingestionId)
                    : new ChunkStored($receipt->ingestionId, $receipt->chunkNumber));
                $this->store->dispatched($receipt);
            } catch (\Throwable $error) {
                // Stored but not queued: a 503 makes ingestd send it again, and the resend
                // (a duplicate) dispatches the message that is still owed.
                $this->logger->error('ingestd chunk stored but not dispatched: {error}', ['error' => $error->getMessage(), 'exception' => $error]);

                return Answer::status(503, 'Stored, but the import queue is unavailable');
            }
        }

        return Answer::ack($receipt->ingestionId, $receipt->chunkNumber, $receipt->duplicate, $this->hints->toArray());
    }
}
