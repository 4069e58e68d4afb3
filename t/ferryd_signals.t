#!/usr/bin/perl
# ferryd under signals: SIGHUP reopens the log (for logrotate), SIGTERM
# drains and exits 0, a stale socket file from a crash does not stop a new
# start, the socket has mode 0660.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg->migrate;
$t->start_ferryd;
my $sock = $t->ferryd_socket;
my $log = $t->dir . '/ferryd.log';

is((stat $sock)[2] & 07777, 0660, 'socket mode is 0660');

rename $log, "$log.1" or die;
kill 'HUP', $t->{procs}{ferryd};
my ($h) = $t->ferryd_request({ v => 1, rid => 'h', method => 'GET', path => '/health', query => {} });
is($h->{status}, 200, 'serving after SIGHUP');
$t->wait_for('new log file', sub { -s $log }, 5);
ok(-s $log, 'SIGHUP: the log file is reopened under its name');

# kill -9 leaves the socket file behind; the next start must cope.
$t->stop_ferryd('KILL');
ok(-S $sock, 'a killed ferryd leaves its socket file');
$t->start_ferryd;
($h) = $t->ferryd_request({ v => 1, rid => 's', method => 'GET', path => '/ping', query => {} });
is($h->{status}, 200, 'restart over a stale socket works');

my $before = length $t->read_file($log);
is($t->stop_ferryd('TERM') >> 8, 0, 'SIGTERM: exit 0');
my $tail = substr($t->read_file($log), $before);
like($tail, qr/INFO  \[server\] SIGTERM: draining \d+ request\(s\) in flight/,
     'SIGTERM: the drain is logged');
like($tail, qr/draining.*\n.*INFO  \[server\] ferryd stopped\n/s,
     'then that it stopped');

$t->done;
