#!/usr/bin/perl
# The module against a deliberately broken ferryd: garbage, oversized or
# invalid heads, split writes, status pass-through, keepalive reuse, and a
# ferryd that is not running at all. The nginx worker must survive each.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();

$t->start_fake_ferryd(sub {
    my ($payload, $conn) = @_;
    my $req = $J->decode($payload);
    my $mode = $req->{query}{mode} // 'echo';
    my $echo = $J->encode({ frame => $req, conn => $conn });

    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" if $mode eq 'garbage';
    return pack('N', 8) . '{"v":1,}' if $mode eq 'badjson';
    return pack('N', 2 * 1024 * 1024) . ('x' x 100) if $mode eq 'oversized';
    if ($mode eq 'version') {
        my $h = '{"v":2,"status":200,"length":0}';
        return pack('N', length $h) . $h;
    }
    if ($mode eq 'split') {
        my $f = Ferry::Test::response_frame(200, $echo);
        return ((map { substr($f, $_, 1) } 0 .. 9), substr($f, 10));
    }
    return Ferry::Test::response_frame(503, '{"error":"busy"}', 'Retry-After' => '7')
        if $mode eq 'status';
    if ($mode eq 'extra') {
        my $h = '{"v":1,"status":200,"headers":{"Content-Type":"text/plain"},"length":2}';
        return pack('N', length $h) . $h . 'okEXTRA';
    }
    if ($mode eq 'sleep') {
        sleep 1;
        return Ferry::Test::response_frame(200, '{}');
    }
    return Ferry::Test::response_frame(200, $echo, 'X-Ferry-Test' => 'yes');
});

$t->start_nginx(<<'EOF');
    upstream ferryd {
        server unix:%%SOCK%%;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_connect_timeout 1s;
        ferry_read_timeout 5s;
        location /api/ { ferry_pass ferryd; }
        location = /health { ferry_pass ferryd; ferry_health; }
        location /nowhere/ { ferry_pass unix:%%DIR%%/missing.sock; }
        location /slow/ { ferry_pass ferryd; ferry_read_timeout 300ms; }
        location /small/ { ferry_pass ferryd; client_max_body_size 10; }
    }
EOF

my $r = $t->http(GET => '/api/things?a=1&b=two%20words');
is($r->{status}, 200, 'echo: 200');
is($r->{headers}{'x-ferry-test'}, 'yes', 'headers from the head are passed on');
my $f = $r->{json}{frame};
is($f->{v}, 1, 'frame carries protocol version 1');
is($f->{method}, 'GET', 'frame carries the method');
is($f->{path}, '/api/things', 'frame carries the path without the query');
is_deeply($f->{query}, { a => '1', b => 'two words' }, 'query decoded into an object');
ok($f->{rid}, 'frame carries a request id');
ok(!defined $f->{body}, 'no body: "body" is null');

$r = $t->http(POST => '/api/things', json => { name => "q\"uote\n", n => [1, 2] });
is($r->{status}, 200, 'POST with JSON body: 200');
is_deeply($r->{json}{frame}{body}, { name => "q\"uote\n", n => [1, 2] },
          'JSON body inlined verbatim');

$r = $t->http(POST => '/api/things', body => '{"broken": ',
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 422, 'malformed JSON body: 422 from the module');
like($r->{json}{error} // '', qr/JSON/, 'with a JSON error naming the problem');

$r = $t->http(POST => '/api/things', body => '[' . ('1,' x 40000) . '1]',
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 413, 'JSON body over ferry_max_body: 413');

# keepalive: several requests share one connection to ferryd.
my %seen;
for (1 .. 5) {
    $r = $t->http(GET => '/api/ka');
    $seen{ $r->{json}{conn} // 'none' }++;
}
is(scalar keys %seen, 1, 'keepalive: five requests used one ferryd connection');

$r = $t->http(GET => '/api/x?mode=split');
is($r->{status}, 200, 'head split across many writes: 200');
is($r->{json}{frame}{path}, '/api/x', 'and the body intact');

$r = $t->http(GET => '/api/x?mode=status');
is($r->{status}, 503, "ferryd's own 503 passes through");
is($r->{headers}{'retry-after'}, '7', 'with its headers');
is_deeply($r->{json}, { error => 'busy' }, 'and its body');

for my $mode (qw(garbage badjson version oversized)) {
    $r = $t->http(GET => "/api/x?mode=$mode");
    is($r->{status}, 502, "$mode from ferryd: 502");
    like($r->{headers}{'content-type'} // '', qr{application/json}, "$mode: JSON error");
    ok($r->{json} && $r->{json}{error}, "$mode: error message in the body");
}
like($t->read_file('error.log'), qr/\[error\].*ferry/i, 'bad heads are logged at error level');

$r = $t->http(GET => '/api/x?mode=extra');
is($r->{status}, 200, 'more body bytes than announced: the head still counts');
is($r->{content}, 'ok', 'only the announced length reaches the client');

$r = $t->http(GET => '/slow/x?mode=sleep');
is($r->{status}, 504, 'ferryd slower than ferry_read_timeout: 504');
is_deeply($r->{json}, { error => 'ferryd timed out' }, 'with a JSON error');

$r = $t->http(GET => '/api/x?name=%ff%fe');
is($r->{status}, 400, 'query string that is not UTF-8: 400');
like($r->{json}{error} // '', qr/UTF-8/, 'with a JSON error saying so');

$r = $t->http(POST => '/small/x', body => '{"a":"0123456789"}',
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 413, 'over client_max_body_size: 413');
is_deeply($r->{json}, { error => 'request body too large' }, "nginx's own 413 answered in JSON");

$r = $t->http(GET => '/api/after');
is($r->{status}, 200, 'the worker survived every bad answer');

my $t0 = time;
$r = $t->http(GET => '/nowhere/x');
is($r->{status}, 503, 'ferryd not running: 503');
is_deeply($r->{json}, { error => 'ferryd unavailable' }, 'with a JSON error');
cmp_ok(time - $t0, '<', 2, 'within the connect timeout');

$t->stop_proc('fake_ferryd');
unlink $t->ferryd_socket;
$r = $t->http(GET => '/health');
is($r->{status}, 503, 'health with ferryd gone: 503');
is($r->{json}{helper}, 'down', 'health names the helper down');

$t->done;
