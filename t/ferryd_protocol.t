#!/usr/bin/perl
# ferryd's side of the Ferry protocol, spoken straight to its socket: frames
# split across writes, several frames in one write, oversized frames, bad
# JSON, unknown versions, unknown paths. ferryd must answer each cleanly,
# log it, and keep serving.

use strict;
use warnings;
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(sleep);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
$t->start_pg->migrate;
$t->start_ferryd(MAX_FRAME_BYTES => 4096);

sub connect_ferryd {
    IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $t->ferryd_socket)
        or die "connect: $!";
}

sub frame { my $p = ref $_[0] ? $J->encode($_[0]) : $_[0]; pack('N', length $p) . $p }

my $ping = { v => 1, rid => 'r1', method => 'GET', path => '/ping', query => {}, user => undef, body => undef };

my ($h, $body) = $t->ferryd_request($ping);
is($h->{status}, 200, '/ping: 200');
is($h->{v}, 1, 'response head carries version 1');
like($h->{headers}{'Content-Type'}, qr{application/json}, 'response has a Content-Type');
is_deeply($J->decode($body), { pong => JSON::PP::true }, '/ping body');

($h, $body) = $t->ferryd_request({ %$ping, path => '/health' });
is($h->{status}, 200, '/health straight to ferryd: 200');
is($J->decode($body)->{database}, 'up', 'database up');

# One frame dribbled a byte at a time.
my $s = connect_ferryd();
my $f = frame($ping);
for my $i (0 .. length($f) - 1) {
    syswrite($s, substr($f, $i, 1));
    sleep 0.002;
}
($h, $body) = Ferry::Test::read_response($s);
is($h->{status}, 200, 'frame split into single bytes: answered');

# Then two frames in one write on the same connection.
syswrite($s, frame({ %$ping, rid => 'a' }) . frame({ %$ping, path => '/nope', rid => 'b' }));
my ($h1) = Ferry::Test::read_response($s);
my ($h2, $b2) = Ferry::Test::read_response($s);
is($h1->{status}, 200, 'two frames in one write: first answered');
is($h2->{status}, 404, 'two frames in one write: second answered (404 for unknown path)');
is($J->decode($b2)->{error}, 'not found', '404 has a JSON error');

($h) = $t->ferryd_request({ %$ping, method => 'POST' });
is($h->{status}, 405, 'known path, wrong method: 405');
like($h->{headers}{Allow} // '', qr/GET/, '405 says which methods are allowed');

($h, $body) = $t->ferryd_request('{"v":1, "method": ');
is($h->{status}, 400, 'malformed JSON: 400');
like($J->decode($body)->{error}, qr/JSON/i, 'malformed JSON: message says so');

($h, $body) = $t->ferryd_request({ %$ping, v => 2 });
is($h->{status}, 400, 'unknown version: 400');
like($J->decode($body)->{error}, qr/version/, 'unknown version: message says so');

($h) = $t->ferryd_request({ v => 1, rid => 'x' });
is($h->{status}, 400, 'frame without method and path: 400');

# Oversized frame: 413, then the connection is closed.
$s = connect_ferryd();
syswrite($s, pack('N', 10_000) . ('x' x 100));
($h, $body) = Ferry::Test::read_response($s);
is($h && $h->{status}, 413, 'frame over MAX_FRAME_BYTES: 413');
my $buf;
is(sysread($s, $buf, 1), 0, 'and the connection is closed');

# A peer that disconnects mid-frame is no problem either.
$s = connect_ferryd();
syswrite($s, pack('N', 100) . 'abc');
close $s;

($h) = $t->ferryd_request($ping);
is($h->{status}, 200, 'ferryd still serves after every bad frame');
ok($t->alive('ferryd'), 'ferryd is still running');

my $log = $t->read_file('ferryd.log');
like($log, qr/ERROR.*(JSON|json)/, 'malformed frame logged at ERROR');
like($log, qr/ERROR.*version/, 'unknown version logged at ERROR');
like($log, qr/ERROR.*(too large|oversized|exceeds)/i, 'oversized frame logged at ERROR');

$t->done;
