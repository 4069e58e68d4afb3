#!/usr/bin/perl
# ferry_webhook slack (issue 11): Slack's Events API at the edge. Requests
# are signed here with Digest::SHA, independently of common/ferry_slack_sig.c;
# a fake ferryd echoes each frame it gets and keeps a copy, so that the
# tests see what the module forwarded and that refused requests and
# url_verification never reached it.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use File::Path qw(make_path);
use Time::HiRes ();
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $secret = '8f742231b10e8888abcd99yyyzzz85a5';
$t->write_file('slack.secret', "$secret\n");
$t->write_file('empty.secret', " \n");
my $frames = $t->dir . '/frames';
make_path($frames);

$t->start_fake_ferryd(sub {
    my ($payload) = @_;
    my $f = sprintf '%s/%.6f-%d', $frames, Time::HiRes::time(), $$;
    open my $fh, '>', $f or die "$f: $!";
    print $fh $payload;
    close $fh;
    return Ferry::Test::response_frame(200, $payload);
});

$t->start_nginx(<<'EOF');
    upstream ferryd { server unix:%%SOCK%%; keepalive 4; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_slack_signing_secret_file %%DIR%%/slack.secret;
        location = /slack/events { ferry_webhook slack; ferry_pass ferryd; }
        location = /slack/small {
            ferry_webhook slack;
            ferry_webhook_max_body 1k;
            ferry_pass ferryd;
        }
        location = /api/plain { ferry_pass ferryd; }
    }
EOF

sub forwarded { opendir(my $d, $frames) or die; scalar grep { !/^\./ } readdir $d }

sub sig { my ($ts, $body, $key) = @_; 'v0=' . hmac_sha256_hex("v0:$ts:$body", $key // $secret) }

# A request as Slack sends it; %o: ts, sig, key, path, method, no_ts,
# no_sig, headers
sub slack {
    my ($body, %o) = @_;
    my $ts = $o{ts} // time;
    my %h = ('Content-Type' => 'application/json', %{ $o{headers} || {} });
    $h{'X-Slack-Request-Timestamp'} = $ts unless $o{no_ts};
    $h{'X-Slack-Signature'} = $o{sig} // sig($ts, $body, $o{key}) unless $o{no_sig};
    return $t->http($o{method} // 'POST', $o{path} // '/slack/events',
                    body => $body, headers => \%h);
}

my $event = '{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",'
          . '"event":{"type":"message","text":"caf\u00e9 \"quoted\"","ts":"1.2"},'
          . '"event_id":"Ev01","event_time":1700000000}';

# -- an event goes to ferryd, as it came
my $r = slack($event);
is($r->{status}, 200, 'signed event: 200 from ferryd');
my $f = $r->{json} // {};
is($f->{method}, 'POST', 'the frame: POST');
is($f->{path}, '/slack/events', 'the frame: the path as requested');
is_deeply($f->{body}, $J->decode($event), 'the frame: the event as "body"');
is_deeply($f->{slack}, { retry_num => 0, retry_reason => undef },
          'the frame: "slack" with retry_num 0 on a first delivery');
ok(!defined $f->{user}, 'the frame: no user');
is(forwarded(), 1, 'one frame reached ferryd');

# odd spacing and a trailing newline: signed as sent, forwarded as sent
my $spaced = qq({ "type" : "event_callback",\n  "event_id" : "Ev02" }\n);
$r = slack($spaced);
is($r->{status}, 200, 'an event with odd spacing: 200');
ok(index($r->{content}, $spaced) >= 0, 'its raw bytes are inlined untouched');

# -- url_verification is answered by nginx
my $n = forwarded();
my $challenge = '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P';
$r = slack(qq({"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"$challenge",)
         . qq("type":"url_verification"}));
is($r->{status}, 200, 'url_verification: 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
is($r->{content}, qq({"challenge":"$challenge"}), 'with the challenge');
is(forwarded(), $n, 'url_verification: nothing reached ferryd');

$r = slack('{"type":"url_verification","challenge":"a\"b\\\\c"}');
is($r->{json}{challenge}, 'a"b\\c', 'a challenge with quotes comes back escaped');

$r = slack('{"type":"url_verification"}');
is($r->{status}, 400, 'url_verification without a challenge: 400');

$r = slack(qq({"type":"url_verification","challenge":"$challenge"}), key => 'other-secret');
is($r->{status}, 401, 'url_verification with a wrong signature: 401, not answered');
is(forwarded(), $n, 'and none of these reached ferryd');

# -- refusals: 401 JSON, nothing forwarded
my $now = time;
my %bad = (
    'wrong signature' => [sig => sig($now, $event, 'not-the-secret')],
    'signature of another body' => [sig => sig($now, '{"type":"event_callback"}')],
    'signature for another timestamp' => [sig => sig($now - 1, $event)],
    'missing signature' => [no_sig => 1],
    'missing timestamp' => [no_ts => 1],
    'timestamp 6 minutes old' => [ts => $now - 360],
    'timestamp 6 minutes ahead' => [ts => $now + 360],
    'timestamp not a number' => [ts => 'yesterday'],
    'malformed signature' => [sig => 'v0=zz'],
    'v1 signature' => [sig => 'v1=' . substr(sig($now, $event), 3)],
);
$n = forwarded();
for my $name (sort keys %bad) {
    $r = slack($event, ts => $now, @{ $bad{$name} });
    is($r->{status}, 401, "$name: 401");
    like($r->{headers}{'content-type'} // '', qr{application/json}, "$name: JSON");
    ok($r->{json} && $r->{json}{error}, "$name: an error message");
}
is(forwarded(), $n, 'no refused request reached ferryd');
is(slack($event, ts => $now - 360)->{json}{error},
   'X-Slack-Request-Timestamp is more than 5 minutes off', 'a stale request says so');
is(slack($event, no_sig => 1)->{json}{error}, 'missing X-Slack-Signature',
   'a missing signature says so');

my $log = $t->read_file('error.log');
like($log, qr/\[warn\].*Slack request refused: X-Slack-Signature does not match/,
     'a wrong signature is logged at warn');
like($log, qr/\[warn\].*Slack request refused: X-Slack-Request-Timestamp is more than 5 minutes off \(timestamp \d+, now \d+\)/,
     'a stale timestamp is logged at warn with both times');
like($log, qr/\[warn\].*Slack request refused: missing X-Slack-Request-Timestamp/,
     'a missing timestamp is logged at warn');

# two signatures: which would Slack have meant?
my $ts = time;
my $raw = "POST /slack/events HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
        . "X-Slack-Request-Timestamp: $ts\r\nX-Slack-Signature: " . sig($ts, $event) . "\r\n"
        . "X-Slack-Signature: v0=" . ('0' x 64) . "\r\n"
        . 'Content-Length: ' . length($event) . "\r\n\r\n$event";
like($t->http_raw($raw), qr{^HTTP/1\.\d 401}, 'two X-Slack-Signature headers: 401');

# upper-case hex is the same signature
$r = slack($event, sig => 'v0=' . uc substr(sig($ts, $event), 3), ts => $ts);
is($r->{status}, 200, 'a signature in upper-case hex: 200');

# -- a valid signature over something that is not a JSON object: 400
$n = forwarded();
for my $body ('{"type":"event_callback",', 'not json', '', '[1,2]', '"event_callback"',
              '{"type":"event_callback"} trailing') {
    $r = slack($body);
    is($r->{status}, 400, "signed body '$body': 400");
    like($r->{headers}{'content-type'} // '', qr{application/json}, '  as JSON');
}
is(forwarded(), $n, 'none of them reached ferryd');

# -- body limits: 413 JSON
$n = forwarded();
my $big = '{"type":"event_callback","event":{"text":"' . ('x' x 2000) . '"}}';
$r = slack($big, path => '/slack/small');
is($r->{status}, 413, 'over ferry_webhook_max_body: 413');
is_deeply($r->{json}, { error => 'request body too large' }, 'as JSON');
my $huge = '{"type":"event_callback","event":{"text":"' . ('x' x (600 * 1024)) . '"}}';
$r = slack($huge);
is($r->{status}, 413, 'over the default ferry_webhook_max_body (512k): 413');

# chunked: no Content-Length to refuse early, the gathered body is counted
$ts = time;
my $chunked = "POST /slack/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            . "Transfer-Encoding: chunked\r\nX-Slack-Request-Timestamp: $ts\r\n"
            . 'X-Slack-Signature: ' . sig($ts, $big) . "\r\n\r\n"
            . sprintf('%x', length $big) . "\r\n$big\r\n0\r\n\r\n";
like($t->http_raw($chunked), qr{^HTTP/1\.1 413}, 'chunked over the limit: 413');
is(forwarded(), $n, 'no oversize body reached ferryd');

$r = slack('{"type":"event_callback","event_id":"Ev03"}', path => '/slack/small');
is($r->{status}, 200, 'under the limit in the small location: 200');

# -- retries: Slack's attempt and reason travel with the event
$r = slack($event, headers => { 'X-Slack-Retry-Num' => 1,
                                'X-Slack-Retry-Reason' => 'http_timeout' });
is($r->{status}, 200, 'a retry: 200');
is_deeply($r->{json}{slack}, { retry_num => 1, retry_reason => 'http_timeout' },
          'the frame carries retry_num and retry_reason');
is_deeply($r->{json}{body}, $J->decode($event), 'and the event');

$r = slack($event, headers => { 'X-Slack-Retry-Num' => 'three' });
is_deeply($r->{json}{slack}, { retry_num => 0, retry_reason => undef },
          'a retry number that is no number is left out');

# -- only POST
$r = slack($event, method => 'GET');
is($r->{status}, 405, 'GET: 405');
is($r->{headers}{allow}, 'POST', 'with Allow: POST');

# -- a plain ferry_pass location has no "slack" member
$r = $t->http(POST => '/api/plain', json => { a => 1 });
ok($r->{json} && !exists $r->{json}{slack},
   'a location without ferry_webhook: no "slack" in the frame');

# -- configuration errors stop nginx -t
for my $case (
    ['location / { ferry_webhook slack; ferry_pass unix:/x; }',
     qr/"ferry_webhook slack" needs "ferry_slack_signing_secret_file"/, 'no secret'],
    ['ferry_slack_signing_secret_file %%DIR%%/empty.secret;'
     . ' location / { ferry_webhook slack; ferry_pass unix:/x; }',
     qr/is empty/, 'an empty secret file'],
    ['ferry_slack_signing_secret_file %%DIR%%/missing.secret;',
     qr/missing\.secret/, 'a missing secret file'],
    ['ferry_slack_signing_secret_file %%DIR%%/slack.secret;'
     . ' location / { ferry_webhook slack; }',
     qr/"ferry_webhook" needs "ferry_pass"/, 'no ferry_pass'],
) {
    my $conf = $t->write_nginx_conf("server { listen 127.0.0.1:%%PORT%%; $case->[0] }\n");
    my ($rc, $out) = $t->nginx_test($conf);
    isnt($rc, 0, "nginx -t fails with $case->[2]");
    like($out, $case->[1], '  naming the problem');
}

$t->done;
