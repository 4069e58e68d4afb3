#!/usr/bin/perl
# Ferry::Peer, the scripted HTTP server the emulators are built on, against
# real clients (HTTP::Tiny and curl): routes with placeholders and state, 404
# for the rest, the journal, large bodies both ways, each kind of fault and
# their order, the peer's own latency under them, two requests served at
# once, keep-alive, and a teardown that leaves no process. Needs no
# PostgreSQL, nginx or ferryd.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;

BEGIN {
    eval { require Mojolicious; 1 }
        or plan skip_all => 'Mojolicious is not installed (apt-get install libmojolicious-perl)';
}
use Ferry::Peer;

plan skip_all => 'curl is not installed' unless `curl --version 2>/dev/null` =~ /^curl/;

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();

# a body that is not the same byte repeated, so a lost or reordered piece shows
sub pattern_bytes {
    my ($n) = @_;
    my $unit = join '', map { chr } 0 .. 255;
    my $s = $unit x (int($n / 256) + 1);
    return substr($s, 0, $n);
}

my $blob = pattern_bytes(3 * 1024 * 1024 + 17);
my $blob_file = $t->write_file('blob.bin', $blob);

my $peer = Ferry::Peer->new($t, name => 'test');
my $visits = 0;
$peer->route(GET => '/hello' => sub {
    return (200, { hello => 'world' }, { 'X-Peer' => 'yes' });
});
$peer->route(GET => '/users/:id' => sub {
    my ($req) = @_;
    return (200, { id => $req->param('id'), query => $req->query, route => $req->route });
});
$peer->route(GET => '/teams/:team/channels/:channel' => sub {
    my ($req) = @_;
    return (200, $req->params);
});
$peer->route([qw(POST PUT)] => '/echo' => sub {
    my ($req) = @_;
    return (201, {
        method => $req->method,
        path => $req->path,
        query => $req->query,
        custom => $req->header('X-Custom'),
        length => $req->body_length,
        body => $req->body,
        json => $req->json,
    });
});
# state kept in the peer process, as an emulator's tables are
$peer->route(POST => '/visits' => sub { $visits++; return (204) });
$peer->route(GET => '/visits' => sub { return (200, { visits => $visits }) });
$peer->route(PUT => '/upload' => sub {
    my ($req) = @_;
    my $sha = Digest::SHA->new(256);
    $sha->addfile($req->body_file);
    return (200, { length => -s $req->body_file, sha256 => $sha->hexdigest });
});
$peer->route(GET => '/stream/:mib' => sub {
    my ($req) = @_;
    my ($left, $piece) = ($req->param('mib') * 1024 * 1024, pattern_bytes(1 << 16));
    return (200, sub {
        return undef if $left <= 0;
        $left -= length $piece;
        return $piece;
    }, { 'Content-Type' => 'application/x-test' });
});
$peer->route(GET => '/file' => sub { return (200, Ferry::Peer::file($blob_file)) });
$peer->route(GET => '/text' => sub { return (200, pattern_bytes(2000)) });
$peer->route(GET => '/slow' => sub { return (200, { which => 'slow' }) });
$peer->route(GET => '/fast' => sub { return (200, { which => 'fast' }) });

$peer->start;
like($peer->url, qr{^http://127\.0\.0\.1:\d+\z}, 'url is on the loopback');
ok(IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $peer->port), 'the port answers after start');
ok($t->alive('peer-test'), 'the peer runs as a process of the harness');
isnt($peer->pid, $$, 'in a process of its own');

my $url = $peer->url;
my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 30);

sub get_json {
    my ($path, %opt) = @_;
    my $r = ($opt{ua} // $ua)->get("$url$path");
    $r->{json} = eval { $J->decode($r->{content}) };
    return $r;
}

# curl with its exit code: (code, headers text, body); @args go before the
# URL; its messages go to curl.err
sub curl {
    my ($path, @args) = @_;
    my ($hdr, $out, $err) = map { $t->dir . "/curl.$_" } qw(headers body err);
    unlink $hdr, $out, $err;
    my $rc = system('curl', '-s', '-S', '--max-time', '60', '--stderr', $err, '-D', $hdr,
                    '-o', $out, @args, "$url$path") >> 8;
    return ($rc, $t->read_file($hdr), $t->read_file($out));
}

# ---------------------------------------------------------------- routes

my $r = get_json('/hello');
is($r->{status}, 200, 'GET /hello: 200');
is_deeply($r->{json}, { hello => 'world' }, 'GET /hello: the handler\'s JSON');
like($r->{headers}{'content-type'}, qr{^application/json}, 'data is sent as JSON');
is($r->{headers}{'x-peer'}, 'yes', 'the handler\'s header');

$r = get_json('/users/u-42?active=1&tag=a&tag=b');
is($r->{status}, 200, 'placeholder route: 200');
is_deeply($r->{json}, { id => 'u-42', query => { active => 1, tag => [qw(a b)] },
                        route => '/users/:id' },
          'placeholder captured; query with a repeated name; the route pattern');

$r = get_json('/teams/t1/channels/town-square');
is_deeply($r->{json}, { team => 't1', channel => 'town-square' }, 'two placeholders');

$r = get_json('/users/u-42/extra');
is($r->{status}, 404, 'a placeholder does not swallow another segment');

$r = get_json('/nowhere?x=1');
is($r->{status}, 404, 'unknown route: 404');
is_deeply($r->{json}, { error => 'no route', method => 'GET', path => '/nowhere' },
          'unknown route: a JSON error naming the request');

$r = $ua->request(DELETE => "$url/hello");
is($r->{status}, 404, 'a route does not answer another method');

my $body = $J->encode({ name => 'ferry', n => 3 });
$r = $ua->request(POST => "$url/echo?x=y", {
    headers => { 'Content-Type' => 'application/json', 'X-Custom' => 'c1' },
    content => $body });
is($r->{status}, 201, 'POST /echo: the handler\'s status');
is_deeply($J->decode($r->{content}), {
    method => 'POST', path => '/echo', query => { x => 'y' }, custom => 'c1',
    length => length $body, body => $body, json => { name => 'ferry', n => 3 } },
    'the handler gets method, path, query, headers, raw body and parsed JSON');

$r = $ua->request(PUT => "$url/echo", { headers => { 'Content-Type' => 'text/plain' },
                                         content => '{"not":"parsed"}' });
is_deeply($J->decode($r->{content})->{json}, undef,
          'a body that is not declared JSON is not parsed');

$ua->request(POST => "$url/visits") for 1 .. 3;
is(get_json('/visits')->{json}{visits}, 3, 'handlers keep state in the peer process');
is($visits, 0, '... not in the test process');

# ---------------------------------------------------------------- journal

my @echo = $peer->journal(path => '/echo', method => 'POST');
is(scalar @echo, 1, 'journal: one POST /echo');
my $e = $echo[0];
is($e->{url}, '/echo?x=y', 'journal: url with the query');
is_deeply($e->{query}, { x => 'y' }, 'journal: query');
is($e->{headers}{'x-custom'}, 'c1', 'journal: headers, lower-case names');
is($e->{body_length}, length $body, 'journal: body length');
is($e->{body_sha256}, sha256_hex($body), 'journal: body sha256');
is($e->{body}, $body, 'journal: a small body itself');
is_deeply($e->{json}, { name => 'ferry', n => 3 }, 'journal: the body parsed as JSON');
is($e->{status}, 201, 'journal: the status answered');
is($e->{route}, '/echo', 'journal: the route that answered');
ok($e->{time} > 0 && $e->{answer_time} >= $e->{time}, 'journal: arrival and answer times');
ok(!exists $e->{fault}, 'journal: no fault when none applied');

my @all = $peer->journal;
is(scalar @all, 12, 'journal: every request so far, control calls excluded');
is_deeply([map { $_->{id} } @all], [1 .. 12], 'journal: in order of arrival');
is(scalar $peer->journal(status => 404), 3, 'journal: filter on status');
is(scalar $peer->journal(path => qr{^/users/}), 2, 'journal: filter with a regex');
is(scalar $peer->journal(route => '/users/:id'), 1, 'journal: filter on the route pattern');
is(scalar $peer->journal(route => undef), 3, 'journal: unrouted requests have route undef');
is(scalar $peer->journal(body_length => sub { $_[0] > 0 }), 2, 'journal: filter with a sub');

# ---------------------------------------------------------------- large bodies

{
    my ($rc, $h, $out) = curl('/upload', '-v', '-X', 'PUT', '--data-binary', "\@$blob_file",
                              '-H', 'Content-Type: application/octet-stream');
    is($rc, 0, 'curl uploads 3 MiB');
    is_deeply($J->decode($out || '{}'), { length => length $blob, sha256 => sha256_hex($blob) },
              'the handler reads the whole upload from its file');
    like($t->read_file('curl.err'), qr{< HTTP/1\.1 100 Continue},
         'Expect: 100-continue is answered');
    my ($u) = $peer->journal(path => '/upload');
    is($u->{body_length}, length $blob, 'journal: length of a large body');
    is($u->{body_sha256}, sha256_hex($blob), 'journal: sha256 of a large body');
    ok(!exists $u->{body}, 'journal: a large body is not copied');
    is($u->{headers}{expect}, '100-continue', 'journal: curl did ask for 100-continue');
}

$r = $ua->request(PUT => "$url/upload", { content => $blob });
is($J->decode($r->{content})->{sha256}, sha256_hex($blob), 'HTTP::Tiny uploads 3 MiB');

{
    my ($rc, $h, $out) = curl('/upload', '-X', 'PUT', '-H', 'Transfer-Encoding: chunked',
                              '--data-binary', "\@$blob_file");
    is_deeply($J->decode($out || '{}'), { length => length $blob, sha256 => sha256_hex($blob) },
              'a chunked upload: every byte, in order');
}

{
    my ($rc, $h, $out) = curl('/stream/20');
    is($rc, 0, 'curl downloads a 20 MiB stream');
    my $expect = pattern_bytes(1 << 16) x 320;
    is(length $out, length $expect, 'streamed body: every byte');
    is(sha256_hex($out), sha256_hex($expect), 'streamed body: the right bytes');
    like($h, qr{^Transfer-Encoding: chunked}mi, 'a stream of unknown length goes out chunked');
    like($h, qr{^Content-Type: application/x-test}mi, 'with the handler\'s content type');
}
{
    my ($rc, $h, $out) = curl('/file');
    is($rc, 0, 'curl downloads a file answer');
    is(sha256_hex($out), sha256_hex($blob), 'file answer: the file\'s bytes');
    like($h, qr{^Content-Length: ${\ length $blob}\r?$}mi, 'file answer: its length');
}

# ---------------------------------------------------------------- faults

my $f = $peer->fault(path => '/hello', times => 1, latency => 0.6);
ok($f, 'a fault gets an id');
my $t0 = time;
$r = get_json('/hello');
my $took = time - $t0;
is($r->{status}, 200, 'latency: then the handler answers');
cmp_ok($took, '>=', 0.6, 'latency: the answer waited at least 0.6 s');
$r = get_json('/hello');
my @h = $peer->journal(path => '/hello');
is($h[-2]{fault}{latency}, 0.6, 'journal: the fault applied');
ok(!exists $h[-1]{fault}, 'latency for 1 request: the next is normal');
is(scalar $peer->faults, 0, 'a fault with its requests used up is gone');

$peer->fault(method => 'GET', path => '/users/:id', times => 2, status => 429,
             retry_after => 7, rate_limit_reset => 1700000000);
for my $i (1, 2) {
    $r = get_json("/users/$i");
    is($r->{status}, 429, "429 fault: request $i gets 429");
    is($r->{headers}{'retry-after'}, 7, "429 fault: request $i has Retry-After");
    is($r->{headers}{'x-ratelimit-reset'}, 1700000000,
       "429 fault: request $i has X-RateLimit-Reset");
}
is_deeply($r->{json}, { error => 'rate limited', status => 429 }, '429 fault: a JSON body');
$r = get_json('/users/3');
is($r->{status}, 200, '429 fault for 2 requests: the third is answered');
is(get_json('/hello')->{status}, 200, 'a fault on one path leaves the others');

$peer->fault(path => '/hello', times => 1, status => 503);
$peer->fault(path => '/hello', times => 1, status => 502, body => { message => 'bad gateway' },
             headers => { 'X-Why' => 'test' });
$peer->fault(path => '/hello', times => 1, status => 500, body => 'plain text');
is(scalar $peer->faults, 3, 'three faults waiting');
$r = get_json('/hello');
is($r->{status}, 503, 'faults apply in order: first 503');
$r = get_json('/hello');
is($r->{status}, 502, 'then 502');
is_deeply($r->{json}, { message => 'bad gateway' }, '... with the fault\'s body');
is($r->{headers}{'x-why'}, 'test', '... and header');
$r = get_json('/hello');
is($r->{status}, 500, 'then 500');
is($r->{content}, 'plain text', '... with a body that is not JSON');
is(get_json('/hello')->{status}, 200, 'then the handler again');

$peer->fault(path => '/hello', status => 503);
is(get_json('/hello')->{status}, 503, 'a fault without times: 1st request');
is(get_json('/hello')->{status}, 503, 'a fault without times: 2nd request');
is(get_json('/hello')->{status}, 503, 'a fault without times: 3rd request');
is(($peer->faults)[0]{hits}, 3, 'the fault counts its hits');
$peer->clear_faults;
is(scalar $peer->faults, 0, 'clear_faults empties the list');
is(get_json('/hello')->{status}, 200, 'after clear_faults the handler answers');

$peer->fault(method => 'POST', path => '/echo', status => 500);
is(get_json('/hello')->{status}, 200, 'a fault for POST /echo leaves GET /hello');
is($ua->request(PUT => "$url/echo")->{status}, 201, 'and PUT /echo');
is($ua->request(POST => "$url/echo")->{status}, 500, 'and applies to POST /echo');
$peer->clear_faults;

$peer->fault(path => '/nowhere', times => 1, status => 503);
is(get_json('/nowhere')->{status}, 503, 'a fault applies to a path without a route');
is(get_json('/nowhere')->{status}, 404, '... and then the 404');

ok(!eval { $peer->fault(path => '/hello', status => 'soon'); 1 }, 'a bad status is refused');
like($@, qr/status must be/, '... with the reason');
ok(!eval { $peer->fault(path => '/hello', latncy => 1); 1 }, 'an unknown key is refused');
ok(!eval { $peer->fault(path => '/hello'); 1 }, 'a fault that does nothing is refused');
is(scalar $peer->faults, 0, 'refused faults are not added');

{
    $peer->fault(path => '/hello', times => 1, drop => 1);
    my ($rc, $h, $out) = curl('/hello');
    is($rc, 52, 'dropped connection: curl reports an empty reply (exit 52)');
    like($t->read_file('curl.err'), qr/Empty reply from server/, '... in its own words');
    is($h, '', 'dropped connection: no status line at all');
    my ($d) = ($peer->journal(path => '/hello'))[-1];
    ok($d->{dropped}, 'journal: dropped');
    is($d->{status}, undef, 'journal: no status for a dropped request');
    is(get_json('/hello')->{status}, 200, 'after the drop the handler answers');

    # HTTP::Tiny retries an idempotent request once on a closed socket, so
    # the drop is shown with a POST
    $peer->fault(path => '/echo', times => 1, drop => 1);
    $r = $ua->request(POST => "$url/echo", { content => 'x' });
    is($r->{status}, 599, 'dropped connection: HTTP::Tiny gets its internal 599');
}

{
    $peer->fault(path => '/text', times => 1, slow_body => { chunk => 100, delay => 0.02 });
    my $t0 = time;
    $r = $ua->get("$url/text");
    my $took = time - $t0;
    is($r->{status}, 200, 'slow body: 200');
    is($r->{content}, pattern_bytes(2000), 'slow body: arrives complete and in order');
    cmp_ok($took, '>=', 19 * 0.02, 'slow body: 20 pieces took at least 19 delays');
    my ($rc, $h, $out) = curl('/text');
    is($out, pattern_bytes(2000), 'the next request is served normally');

    $peer->fault(path => '/stream/:mib', times => 1,
                 slow_body => { chunk => 65536, delay => 0.01 });
    ($rc, $h, $out) = curl('/stream/1');
    is(sha256_hex($out), sha256_hex(pattern_bytes(1 << 16) x 16),
       'slow body of a stream: complete');

    $peer->fault(path => '/users/:id', times => 1, status => 503, latency => 0.3,
                 slow_body => { chunk => 5, delay => 0.01 });
    $t0 = time;
    $r = get_json('/users/1');
    $took = time - $t0;
    is($r->{status}, 503, 'latency, status and slow body together: the status');
    is_deeply($r->{json}, { error => 'peer fault', status => 503 }, '... the whole body');
    cmp_ok($took, '>=', 0.3, '... after the latency');
}

# ---------------------------------------------------------------- the peer's own latency

{
    # a remote service's response time, on every routed request, under the faults
    my $lp = Ferry::Peer->new($t, name => 'slow', latency => 0.2);
    $lp->route(GET => '/x' => sub { return (200, { x => 1 }) });
    $lp->start;
    my $lurl = $lp->url;
    my $t0 = time;
    $r = $ua->get("$lurl/x");
    is($r->{status}, 200, 'peer latency: the handler answers');
    cmp_ok(time - $t0, '>=', 0.2, 'peer latency: a routed request waits it');
    $t0 = time;
    is($ua->get("$lurl/none")->{status}, 404, 'peer latency: an unrouted request is 404');
    cmp_ok(time - $t0, '<', 0.2, '... answered at once');
    $lp->fault(path => '/x', times => 1, latency => 0.3);
    $t0 = time;
    $ua->get("$lurl/x");
    cmp_ok(time - $t0, '>=', 0.5, 'a latency fault adds to the peer latency');
    $lp->fault(path => '/x', times => 1, status => 503);
    $t0 = time;
    is($ua->get("$lurl/x")->{status}, 503, 'a status fault with the peer latency: the status');
    cmp_ok(time - $t0, '>=', 0.2, '... after the peer latency');
    is($lp->latency(0), 0, 'latency set to 0 while the peer runs');
    $t0 = time;
    $ua->get("$lurl/x");
    cmp_ok(time - $t0, '<', 0.2, '... requests no longer wait');
    ok(!eval { $lp->latency('soon'); 1 }, 'a latency that is not seconds is refused');
    $lp->stop;
}

# ---------------------------------------------------------------- latency as a deadline

{
    # The latency is a deadline counted from the request's arrival: never
    # shorter, whatever the client, and the server's own work (here a
    # handler that takes 1.5 ms) inside it rather than added to it, so that
    # a benchmark's "5 ms a call" is 5 ms and not 6 or 7. How close to the
    # deadline the answers come is for the benchmark to show (wrk beside
    # the bound), not for a test on a machine that may be busy: only
    # "never sooner" is asserted.
    my $dp = Ferry::Peer->new($t, name => 'deadline', latency => 0.02);
    $dp->route(GET => '/busy' => sub {
        my $until = time + 0.0015;
        1 while time < $until;
        return (200, { busy => 1 });
    });
    $dp->route(GET => '/quick' => sub { (200, { quick => 1 }) });
    $dp->start;
    for my $case ([0.02, '/busy'], [0.005, '/quick'], [0.001, '/quick']) {
        my ($latency, $path) = @$case;
        $dp->latency($latency);
        my @took = $dp->timed_calls("GET $path HTTP/1.1\r\nHost: peer\r\n\r\n", 30);
        my $ms = $latency * 1000;
        cmp_ok($took[0], '>=', $latency, "latency $ms ms, $path: no call answered sooner ("
               . sprintf('%.3f ms; the median %.3f ms', $took[0] * 1000, $took[@took / 2] * 1000) . ')');
    }
    $dp->fault(path => '/quick', times => 1, latency => 0.01);
    $dp->latency(0.005);
    my ($took) = $dp->timed_calls("GET /quick HTTP/1.1\r\nHost: peer\r\n\r\n", 1);
    cmp_ok($took, '>=', 0.015, 'a latency fault adds to the deadline');
    $dp->stop;
}

# ---------------------------------------------------------------- concurrency

{
    $peer->fault(path => '/slow', times => 1, latency => 2);
    my $slow_out = $t->dir . '/slow.out';
    my $pid = fork // die;
    if ($pid == 0) {
        { exec 'curl', '-s', '-o', $slow_out, "$url/slow" }
        POSIX::_exit(127);
    }
    my @pending = $peer->wait_for_requests(path => '/slow', pending => 1, timeout => 20);
    is(scalar @pending, 1, 'the delayed request reached the peer');
    $r = get_json('/fast');
    is_deeply($r->{json}, { which => 'fast' }, 'another request meanwhile is answered');
    waitpid($pid, 0);
    is($?, 0, 'the delayed request completes');
    is_deeply($J->decode($t->read_file($slow_out) || '{}'), { which => 'slow' },
              'the delayed request gets its answer');
    my ($slow) = $peer->journal(path => '/slow');
    my ($fast) = $peer->journal(path => '/fast');
    cmp_ok($fast->{time}, '>', $slow->{time}, 'the fast request arrived after the slow one');
    cmp_ok($fast->{answer_time}, '<', $slow->{answer_time}, 'and was answered before it');
}

{
    my $ka = HTTP::Tiny->new(keep_alive => 1);
    my $before = () = $peer->journal;
    $ka->get("$url/hello") for 1 .. 3;
    my @reqs = ($peer->journal)[$before .. $before + 2];
    is(scalar(grep { $_->{path} eq '/hello' } @reqs), 3, 'keep-alive: three requests');
    is(scalar(keys %{{ map { $_->{remote_port} => 1 } @reqs }}), 1, 'keep-alive: one connection');
    $ua->get("$url/hello") for 1 .. 2;
    my @two = ($peer->journal)[-2, -1];
    isnt($two[0]{remote_port}, $two[1]{remote_port}, 'without keep-alive: two connections');
}

# the peer's own HTTP/1.1, as a raw client sees it
sub raw_http {
    my ($bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $peer->port) or die "connect: $!";
    print $s $bytes;
    local $/;
    return scalar <$s>;
}

{
    my $two = raw_http("GET /users/a HTTP/1.1\r\nHost: p\r\n\r\n"
                     . "POST /echo HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n\r\nhi"
                     . "GET /users/b HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
    my @ids = $two =~ /"id":"(\w)"/g;
    is_deeply(\@ids, [qw(a b)], 'requests sent at once (pipelined): answered in their order');
    like($two, qr/"body":"hi"/, '... the one between with its body');
    like($two, qr/Connection: close\r\n\r\n[^\r]*\z/, '... and the connection closed after the last, '
         . 'which asked for it');
    my $head = raw_http("HEAD /hello HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
    like($head, qr{\AHTTP/1\.1 200 OK\r\n.*Content-Length: 17\r\n}s, 'HEAD: the length a GET would get');
    like($head, qr/\r\n\r\n\z/, '... and no body');
    like(raw_http("GARBAGE\r\n\r\n"), qr{\AHTTP/1\.1 400 }, 'a request that is not HTTP: 400');
    like(raw_http("GET /hello HTTP/1.0\r\n\r\n"), qr{\AHTTP/1\.1 200 .*"hello":"world"}s,
         'HTTP/1.0: answered, the connection closed');
}

# ---------------------------------------------------------------- waiting

{
    my $pid = fork // die;
    if ($pid == 0) {
        Time::HiRes::sleep(0.3);
        HTTP::Tiny->new->get("$url/users/late-$_") for 1 .. 2;
        POSIX::_exit(0);
    }
    my @late = $peer->wait_for_requests(n => 2, path => qr{^/users/late-}, timeout => 20);
    waitpid($pid, 0);
    is(scalar @late, 2, 'wait_for_requests waits for requests still to come');
    my @none = $peer->wait_for_requests(n => 1, path => '/never', timeout => 0.3);
    is(scalar @none, 0, 'wait_for_requests returns what there is at the timeout');
}

# ---------------------------------------------------------------- a dying handler, teardown

{
    my $t2 = Ferry::Test->new;
    my $p2 = Ferry::Peer->new($t2, name => 'dying');
    $p2->route(GET => '/die' => sub { die "boom\n" });
    $p2->start;
    $r = $ua->get($p2->url . '/die');
    is($r->{status}, 500, 'a handler that dies: 500');
    like($r->{content}, qr/peer handler died: boom/, '... with the reason');
    is(($p2->journal)[0]{error}, 'boom', 'journal: the error');
    ok(scalar(grep { /handler for GET \/die died: boom/ } $t2->log_problems),
       'done() would report the dead handler');
    my ($pid, $port) = ($p2->pid, $p2->port);
    $t2->teardown;
    ok(!kill(0, $pid), 'teardown: the peer process is gone');
    ok(!kill(0, -$pid), 'teardown: nothing left in its process group');
    ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port"), 'teardown: the port is closed');
}

{
    my ($pid, $port) = ($peer->pid, $peer->port);
    $t->teardown;
    ok(!kill(0, -$pid), 'the main peer is gone after teardown too');
    ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port"), '... and its port closed');
}

$t->done;
