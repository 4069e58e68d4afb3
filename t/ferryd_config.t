#!/usr/bin/perl
# ferryd's configuration: file plus environment, and the clear message and
# exit code 2 for a missing config file, an unreadable secret or a bad
# DATABASE_URL.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $dir = $t->dir;
my %clean = (DATABASE_URL => undef, LOG_LEVEL => undef, JWT_SECRET_FILE => undef,
             FERRY_SOCKET => undef, LOG_FILE => undef);
delete @ENV{keys %clean};

my ($rc, $out) = $t->run_cmd($t->ferryd_cmd('-c', "$dir/nope.conf"));
is($rc, 2, 'missing config file: exit 2');
like($out, qr/nope\.conf/, 'the message names the file');

my $base = "FERRY_SOCKET=$dir/c.sock\nDATABASE_URL=postgresql:///ferry?host=$dir\n";

my $conf = $t->write_file('secret.conf', $base . "JWT_SECRET_FILE=$dir/no-such-secret\n");
($rc, $out) = $t->run_cmd($t->ferryd_cmd('-c', $conf));
is($rc, 2, 'unreadable JWT secret: exit 2');
like($out, qr/no-such-secret/, 'the message names the secret file');

$conf = $t->write_file('secretdir.conf', $base . "JWT_SECRET_FILE=$dir\n");
($rc, $out) = $t->run_cmd($t->ferryd_cmd('-c', $conf));
is($rc, 2, 'a directory as secret: exit 2');

$conf = $t->write_file('url.conf', "FERRY_SOCKET=$dir/c.sock\nDATABASE_URL=postgresql://[bad\n");
($rc, $out) = $t->run_cmd($t->ferryd_cmd('-c', $conf));
is($rc, 2, 'bad DATABASE_URL: exit 2');
like($out, qr/DATABASE_URL/, 'the message names DATABASE_URL');

$conf = $t->write_file('ok.conf', $base . "LOG_LEVEL=loud\n");
($rc, $out) = $t->run_cmd($t->ferryd_cmd('-c', $conf));
is($rc, 2, 'bad LOG_LEVEL: exit 2');
like($out, qr/LOG_LEVEL/, 'the message names LOG_LEVEL');

# The environment overrides the file: a good level in the environment wins.
my $pid = $t->spawn('ferryd', $t->ferryd_cmd('-c', $conf),
                    env => { LOG_LEVEL => 'debug', LOG_FILE => "$dir/env.log",
                             MM_TOKEN => 'mm-token-not-for-logs', SLACK_TOKEN => 'xoxb-not-for-logs',
                             MM_URL => 'http://mm.example' });
$t->wait_for('ferryd socket', sub { -S "$dir/c.sock" });
ok($t->alive('ferryd'), 'environment overrides a bad value in the file');
is($t->stop_ferryd('TERM') >> 8, 0, 'SIGTERM: exit 0');
ok(!-e "$dir/c.sock", 'socket removed on exit');
my $log = $t->read_file("$dir/env.log");
like($log, qr/DEBUG/, 'LOG_LEVEL and LOG_FILE from the environment apply');
like($log, qr/MM_URL=http:\/\/mm\.example/, 'the debug log shows the settings');
like($log, qr/MM_TOKEN=\(set\)/, 'and a token only as (set)');
unlike($log, qr/not-for-logs/, 'never its value');

$t->done;
