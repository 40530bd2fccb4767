<?php

declare(strict_types=1);

namespace Ingestd\PimcoreBundle\Tests\Unit;

use Ingestd\PimcoreBundle\Protocol\Answer;
use Ingestd\PimcoreBundle\Protocol\CanonicalJson;
use Ingestd\PimcoreBundle\Protocol\Chunk;
use Ingestd\PimcoreBundle\Protocol\PayloadParser;
use Ingestd\PimcoreBundle\Protocol\Refused;
use Ingestd\PimcoreBundle\Tests\Bodies;
use Ingestd\PimcoreBundle\Verification\BodySizeVerifier;
use Ingestd\PimcoreBundle\Verification\CallbackRequest;
use Ingestd\PimcoreBundle\Verification\ChecksumVerifier;
use Ingestd\PimcoreBundle\Verification\ContentDigestVerifier;
use Ingestd\PimcoreBundle\Verification\RequestVerifier;
use Ingestd\PimcoreBundle\Verification\Secrets;
use Ingestd\PimcoreBundle\Verification\SignatureVerifier;
use Ingestd\PimcoreBundle\Verification\TokenVerifier;
use PHPUnit\Framework\TestCase;

final class VerifiersTest extends TestCase
{
    private const NOW = 1_700_000_000;
    private const OLD_SECRET = 'whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xk';

    public function testABodyAboveTheLimitIsRefusedWith413(): void
    {
        $verifier = new BodySizeVerifier(10);
        $verifier->verify(new CallbackRequest([], str_repeat('x', 10)));
        $this->assertRefused($verifier, new CallbackRequest([], str_repeat('x', 11)), 413, 'Payload too large');
    }

    public function testAMissingOrWrongBearerTokenIsRefusedWith401(): void
    {
        $verifier = new TokenVerifier(new Secrets('new-token old-token', null));
        $verifier->verify(new CallbackRequest(['authorization' => 'Bearer old-token'], '{}'));
        $verifier->verify(new CallbackRequest(['authorization' => 'Bearer new-token'], '{}'));
        $this->assertRefused($verifier, new CallbackRequest([], '{}'), 401, 'Bad token');
        $this->assertRefused($verifier, new CallbackRequest(['authorization' => 'Bearer new-toke'], '{}'), 401, 'Bad token');
    }

    public function testTokensAreReadFromAFileOnEveryRequest(): void
    {
        $file = tempnam(sys_get_temp_dir(), 'token');
        file_put_contents($file, "first\n");
        $verifier = new TokenVerifier(new Secrets(null, $file));
        $verifier->verify(new CallbackRequest(['authorization' => 'Bearer first'], '{}'));
        file_put_contents($file, "second\n");
        $this->assertRefused($verifier, new CallbackRequest(['authorization' => 'Bearer first'], '{}'), 401, 'Bad token');
        $verifier->verify(new CallbackRequest(['authorization' => 'Bearer second'], '{}'));
        unlink($file);
    }

    public function testTheStandardWebhooksSpecificationExampleVerifies(): void
    {
        // The example signed by the Standard Webhooks reference implementation.
        $verifier = new SignatureVerifier(new Secrets(Bodies::SECRET, null), 300, static fn (): int => 1614265330);
        $verifier->verify(new CallbackRequest([
            'webhook-id' => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
            'webhook-timestamp' => '1614265330',
            'webhook-signature' => 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
        ], '{"test": 2432232314}'));
        $this->addToAssertionCount(1);
    }

    public function testASignatureByAnyConfiguredSecretIsAccepted(): void
    {
        $verifier = $this->signatures(Bodies::SECRET . ' ' . self::OLD_SECRET);
        foreach ([[Bodies::SECRET], [self::OLD_SECRET], ['whsec_' . base64_encode('unknown-unknown-unknown-'), self::OLD_SECRET]] as $secrets) {
            $verifier->verify(new CallbackRequest(Bodies::headers('{"a":1}', $secrets, self::NOW), '{"a":1}'));
        }
        $this->addToAssertionCount(3);
    }

    public function testAMissingWrongOrStaleSignatureIsRefusedWith401(): void
    {
        $verifier = $this->signatures(Bodies::SECRET);
        $body = '{"a":1}';
        $signed = Bodies::headers($body, [Bodies::SECRET], self::NOW);
        $cases = [
            'no headers' => Bodies::headers($body),
            'other secret' => Bodies::headers($body, [self::OLD_SECRET], self::NOW),
            'six minutes old' => Bodies::headers($body, [Bodies::SECRET], self::NOW - 301),
            'six minutes ahead' => Bodies::headers($body, [Bodies::SECRET], self::NOW + 301),
            'other id' => ['webhook-id' => 'other'] + $signed,
            'not base64' => ['webhook-signature' => 'v1,%%%'] + $signed,
            'v2 scheme' => ['webhook-signature' => 'v2,' . substr($signed['webhook-signature'], 3)] + $signed,
        ];
        foreach ($cases as $case => $headers) {
            $this->assertRefused($verifier, new CallbackRequest($headers, $body), 401, 'Bad signature', $case);
        }
        $this->assertRefused($verifier, new CallbackRequest($signed, $body . ' '), 401, 'Bad signature', 'body changed');
        $verifier->verify(new CallbackRequest(Bodies::headers($body, [Bodies::SECRET], self::NOW - 299), $body));
    }

    public function testWithoutSecretsOrTokensNothingIsDemanded(): void
    {
        (new TokenVerifier(new Secrets('', null)))->verify(new CallbackRequest([], '{}'));
        $this->signatures('')->verify(new CallbackRequest([], '{}'));
        $this->addToAssertionCount(2);
    }

    public function testAContentDigestThatIsMissingOrWrongIsAChecksumMismatch(): void
    {
        $verifier = new ContentDigestVerifier();
        $body = '{"a":1}';
        $verifier->verify(new CallbackRequest(Bodies::headers($body), $body));
        $this->assertRefused($verifier, new CallbackRequest([], $body), 200, Answer::CHECKSUM_MISMATCH);
        $this->assertRefused($verifier, new CallbackRequest(Bodies::headers($body), '{"a":2}'), 200, Answer::CHECKSUM_MISMATCH);
    }

    public function testAChecksumThatIsNotTheCanonicalFormsIsAChecksumMismatch(): void
    {
        $vector = Bodies::vector('a product record');
        $parser = new PayloadParser(new CanonicalJson());
        $verifier = new ChecksumVerifier(new CanonicalJson());
        $id = Bodies::id('x');
        $good = $parser->parse(Bodies::chunk($id, 0, $vector['records'], 0, $vector['sha256']));
        self::assertInstanceOf(Chunk::class, $good);
        $verifier->verify($good);
        $bad = $parser->parse(Bodies::chunk($id, 0, $vector['records'], 0, hash('sha256', $vector['records'] . ' ')));
        self::assertInstanceOf(Chunk::class, $bad);
        try {
            $verifier->verify($bad);
            self::fail('a wrong checksum was accepted');
        } catch (Refused $refused) {
            self::assertSame(['ack' => false, 'error' => 'Checksum mismatch'], $refused->answer->body);
        }
    }

    public function testBodiesThatAreNotChunksOrCompletionsAreRefusedWith400(): void
    {
        $parser = new PayloadParser(new CanonicalJson());
        $id = Bodies::id('x');
        $cases = [
            'not JSON' => '{"type": "chunk",',
            'a list' => '[]',
            'no id' => '{"type":"chunk"}',
            'short id' => '{"type":"chunk","ingestion_id":"abc"}',
            'unknown type' => "{\"type\":\"other\",\"ingestion_id\":\"$id\"}",
            'records not a list' => Bodies::chunk($id, 0, '{}', 0),
            'negative chunk' => Bodies::chunk($id, -1, '[]', 0),
            'completion without counts' => "{\"type\":\"completion\",\"ingestion_id\":\"$id\"}",
        ];
        foreach ($cases as $case => $body) {
            try {
                $parser->parse($body);
                self::fail("accepted: $case");
            } catch (Refused $refused) {
                self::assertSame(400, $refused->answer->status, $case);
                self::assertFalse($refused->answer->body['ack'], $case);
            }
        }
    }

    private function signatures(string $secrets): SignatureVerifier
    {
        return new SignatureVerifier(new Secrets($secrets, null), 300, static fn (): int => self::NOW);
    }

    private function assertRefused(RequestVerifier $verifier, CallbackRequest $request, int $status, string $error, string $case = ''): void
    {
        try {
            $verifier->verify($request);
            self::fail("accepted: $case");
        } catch (Refused $refused) {
            self::assertSame($status, $refused->answer->status, $case);
            self::assertSame($error, $refused->answer->body['error'], $case);
            self::assertFalse($refused->answer->body['ack'], $case);
        }
    }
}
