#!/usr/bin/perl
# `./build.sh run` as a user runs it: from a copy of this tree inside a
# private directory (mode 0700, like root's home or a mktemp -d), where the
# postgres and www-data users cannot reach ./var. It must come up, take an
# upload (nginx's workers write the spool) and serve a report; run again,
# it must keep the nginx and ferryd that are up (their pids, and so the
# idempotency zone and the jobs in flight).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();
plan skip_all => 'needs root (the private-directory case is about other users)'
    unless Ferry::Test::is_root();

my $t = Ferry::Test->new;
my $root = Ferry::Test::root();
my $build = Ferry::Test::build();
plan skip_all => 'the build under test is not this tree\'s build/' unless $build eq "$root/build";

my $private = tempdir('ferry-private-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0700, $private;
my $copy = "$private/clone";
mkdir $copy or die;

# the tree as it is (committed or not), and its build, timestamps kept so
# that make and nginx's make find nothing to do
my ($rc, $out) = $t->run_cmd(['sh', '-c',
    "cd '$root' && git ls-files -z --cached --others --exclude-standard "
    . "| tar --null -cf - -T - | tar -xf - -C '$copy' "
    . "&& mkdir -p '$copy/build' && cp -a build/ferryd build/obj build/t build/nginx-src "
    . "build/ngx_http_ferry_module.so '$copy/build/'"]);
is($rc, 0, 'a copy of the tree in a private directory') or diag $out;

my $port = Ferry::Test::free_port();
my $pgport = Ferry::Test::free_port();
my %env = (FERRY_PORT => $port, PGPORT => $pgport);
my $run = sub {
    my @cmd = @_;
    return $t->run_cmd(['env', map({ "$_=$env{$_}" } sort keys %env), "$copy/build.sh", @cmd]);
};

($rc, $out) = $run->('run');
is($rc, 0, './build.sh run from a private clone succeeds') or diag $out;
my ($state) = $out =~ /^State \(cluster, spool, reports, logs, nginx\.conf\) in (\S+);/m;
ok($state && $state !~ /^\Q$private\E/, "it says where its state is, outside the private directory ($state)");
ok(-l "$copy/var" && readlink("$copy/var") eq $state, './var links there');

my $r = $t->http(GET => '/healthcheck', port => $port);
is($r->{status}, 200, 'healthcheck: 200');
like($out, qr/read API .* closed: set API_AUTH_USER and API_AUTH_PASSWORD/,
    'without API_AUTH_USER it says the Grist read API is closed');
is($t->http(GET => '/badges', port => $port)->{status}, 401, 'and it is');

$r = $t->http(POST => '/auth/register', port => $port, json => { email => 'p@example.com', password => 'password1' });
is($r->{status}, 201, 'register');
$r = $t->http(POST => '/auth/token', port => $port, json => { email => 'p@example.com', password => 'password1' });
my $token = $r->{json}{access_token};
my $csv = "email,first_name,last_name,phone,city\nok\@example.com,A,B,,C\nbad,,,,\n";
$r = $t->http(POST => '/imports?mode=insert_only', port => $port,
    body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\r\n$csv\r\n--B--\r\n",
    headers => { Authorization => "Bearer $token", 'Content-Type' => 'multipart/form-data; boundary=B',
                 'Idempotency-Key' => 'private-1' });
is($r->{status}, 201, 'an upload: nginx\'s workers reach the spool') or diag $r->{content};
my $id = $r->{json}{id};
my $job;
$t->wait_for('the import', sub {
    $job = $t->http(GET => "/imports/$id", port => $port, headers => { Authorization => "Bearer $token" })->{json};
    $job->{status} ne 'pending' && $job->{status} ne 'processing' });
is($job->{status}, 'done', 'and ferryd imports it');
$r = $t->http(GET => "/imports/$id/errors", port => $port, headers => { Authorization => "Bearer $token" });
my ($crc, $report) = $t->run_cmd(['curl', '-sf', $r->{json}{url} // '']);
is($crc, 0, 'the report downloads: nginx\'s workers reach the reports');
like($report, qr/^3,bad,invalid email/m, 'with the bad row');

my $pids = sub { join ' ', map { my $f = "$state/$_.pid"; -f $f ? $t->read_file($f) =~ s/\s+//gr : '-' } qw(nginx ferryd) };
my $before = $pids->();
@env{qw(API_AUTH_USER API_AUTH_PASSWORD)} = ('feeder', 'pass word');
($rc, $out) = $run->('run');
is($rc, 0, 'run again');
like($out, qr/basic auth as feeder/, 'with API_AUTH_USER and API_AUTH_PASSWORD: the read API opens');
require MIME::Base64;
$r = $t->http(GET => '/persons', port => $port,
    headers => { Authorization => 'Basic ' . MIME::Base64::encode_base64('feeder:pass word', '') });
is($r->{status}, 200, 'to that user') or diag $r->{content};
is_deeply($r->{json}, [], 'an empty list before any sync');
is($t->http(GET => '/persons', port => $port)->{status}, 401, 'and to no one else');
is($pids->(), $before, 'nginx and ferryd kept running (same pids), not restarted');
like($out, qr/reloading nginx/, 'nginx reloaded');
like($out, qr/ferryd is running/, 'ferryd left alone');
$r = $t->http(POST => '/imports?mode=insert_only', port => $port,
    body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\r\n$csv\r\n--B--\r\n",
    headers => { Authorization => "Bearer $token", 'Content-Type' => 'multipart/form-data; boundary=B',
                 'Idempotency-Key' => 'private-1' });
is($r->{status}, 200, 'the same Idempotency-Key replays');
is($r->{headers}{'idempotent-replayed'}, 'true', 'as a replay');
is($r->{json}{id}, $id, 'the same job');

($rc, $out) = $run->('stop');
is($rc, 0, './build.sh stop');
$t->wait_for('everything stopped', sub { !-e "$state/nginx.pid" && !-e "$state/ferryd.pid"
                                         && !-e "$state/pg/postmaster.pid" }, 20);
ok(!-e "$state/pg/postmaster.pid", 'PostgreSQL stopped');
system('rm', '-rf', $state) if $state && $state =~ m{^/var/lib/ferry-dev/};

$t->done;
