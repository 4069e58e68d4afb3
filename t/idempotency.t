#!/usr/bin/perl
# A6 Idempotency-Key on POST /imports: the first request makes the job
# (201), a repeat replays it (200, same id) from the nginx zone or, after a
# restart, from PostgreSQL; a repeat in flight is refused from its headers
# (409); another request under the same key is 422; keys are per user;
# 50 concurrent duplicates make exactly one job.

use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
# no job runners: the spool files stay put for the checks below
$t->start_ferryd(SPOOL_DIR => $spool, JOB_WORKERS => 0);

my $conf = Ferry::Test::imports_conf();
$t->start_nginx($conf);

my $ann = $t->user_token('ann@example.com');
my $bob = $t->user_token('bob@example.com');

sub body { my ($csv) = @_;
    "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"
  . "Content-Type: text/csv\r\n\r\n$csv\r\n--XX--\r\n" }

sub post {
    my ($token, $key, %o) = @_;
    return $t->http(POST => '/imports?mode=' . ($o{mode} // 'insert_only'),
                    body => body($o{csv} // "email\na\@b.c\n"),
                    headers => { 'Content-Type' => 'multipart/form-data; boundary=XX',
                                 Authorization => "Bearer $token",
                                 (defined $key ? ('Idempotency-Key' => $key) : ()) });
}

sub jobs { $t->psql("SELECT count(*) FROM jobs WHERE kind = 'import'") }
sub spool { opendir(my $d, $spool) or die; sort grep { !/^\./ } readdir $d }

my $r = post($ann, 'k1');
is($r->{status}, 201, 'first request: 201');
my $id = $r->{json}{id};
like($id, qr/^[0-9a-f-]{36}$/, 'with a job id');
is($r->{json}{status}, 'pending', 'the job is pending');
is($r->{headers}{location}, "/imports/$id", 'Location names the job');
is(jobs(), 1, 'one job');
is_deeply([spool()], ["import-$id.csv"], 'the upload became the job\'s file');

$r = post($ann, 'k1');
is($r->{status}, 200, 'repeat: 200');
is($r->{json}{id}, $id, 'repeat: the same id');
is($r->{headers}{'idempotent-replayed'}, 'true', 'marked as a replay');
is(jobs(), 1, 'still one job');
is_deeply([spool()], ["import-$id.csv"], "the repeat's upload is not kept");
like($t->read_file('error.log'), qr/replayed from the zone/, 'answered by the nginx zone');

$r = post($ann, 'k1', csv => "email\nother\@b.c\n");
is($r->{status}, 422, 'same key, another file: 422');
like($r->{json}{error}, qr/different request/, 'saying so');
is(post($ann, 'k1', mode => 'upsert')->{status}, 422, 'same key, another mode: 422');

$r = post($ann, undef);
is($r->{status}, 400, 'no key: 400');
like($r->{json}{error}, qr/Idempotency-Key/, 'naming the header');
is(post($ann, 'x' x 256)->{status}, 400, 'a key over 255 characters: 400');
is(post($ann, "tab\tkey")->{status}, 400, 'a key with a control character: 400');
is(post($ann, 'x' x 255)->{status}, 201, 'a key of 255 characters is fine');

$r = post($bob, 'k1');
is($r->{status}, 201, 'another user, the same key: a job of its own');
isnt($r->{json}{id}, $id, 'with another id');
is($t->http(GET => "/imports/$id", headers => { Authorization => "Bearer $bob" })->{status},
   404, "another user's job: 404");
is($t->http(GET => "/imports/$id", headers => { Authorization => "Bearer $ann" })->{json}{id},
   $id, 'the owner sees it');

# In flight: the first request's body is still coming; the duplicate is
# refused from its headers alone (it never sends a body).
my $body = body("email\nslow\@b.c\n");
my $head = "POST /imports?mode=insert_only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         . "Authorization: Bearer $ann\r\nIdempotency-Key: k2\r\n"
         . "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: " . length($body) . "\r\n\r\n";
my $first = $t->connect_nginx;
$first->autoflush(1);
print $first $head . substr($body, 0, 20);
sleep 0.2;
my $dup = $t->connect_nginx;
my $t0 = time;
print $dup $head;
my $got = '';
sysread($dup, $got, 65536, length $got) while $got !~ /\r\n\r\n.*\}/s;
my $took = time - $t0;
my ($st) = $got =~ m{^HTTP/1\.1 (\d+)};
my (undef, $b) = split /\r\n\r\n/, $got, 2;
is($st, 409, 'a duplicate while the first is in flight: 409');
cmp_ok($took, '<', 1, 'at once, without its body');
like($J->decode($b)->{error}, qr/in progress/, 'saying so');
print $first substr($body, 20);
($st, undef, $b) = Ferry::Test::read_http($first);
is($st, 201, 'the first one then completes: 201');
my $k2 = $J->decode($b)->{id};

# 50 at once with one key: exactly one job, every answer with an id has it.
my $before = jobs();
my @kids;
pipe my $rd, my $wr or die;
for my $i (1 .. 50) {
    my $pid = fork // die;
    if ($pid == 0) {
        close $rd;
        my $x = post($ann, 'k3');
        print $wr "$x->{status} " . (($x->{json} && $x->{json}{id}) // '-') . "\n";
        close $wr;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
close $wr;
my @answers = map { [split] } <$rd>;
waitpid $_, 0 for @kids;
is(scalar @answers, 50, '50 answers');
is(jobs() - $before, 1, '50 concurrent duplicates: exactly one job');
is(scalar(grep { $_->[0] == 201 } @answers), 1, 'exactly one 201');
my %ids = map { $_->[1] => 1 } grep { $_->[0] =~ /^2/ } @answers;
is(scalar keys %ids, 1, 'every success carries the same id');
is(scalar(grep { $_->[0] !~ /^(200|201|409)$/ } @answers), 0, 'the rest are 409s')
    or diag explain \@answers;

# nginx restarts: its zone is gone, PostgreSQL still answers.
$t->stop_nginx;
$t->start_nginx($conf);
$r = post($ann, 'k1');
is($r->{status}, 200, 'after an nginx restart: 200');
is($r->{json}{id}, $id, 'the same id, from PostgreSQL');
is($r->{headers}{'idempotent-replayed'}, 'true', 'replayed by ferryd');
is(post($ann, 'k2', csv => "email\nslow\@b.c\n")->{json}{id}, $k2, 'the in-flight one is recorded too');
is(post($ann, 'k1', csv => "email\nz\@b.c\n")->{status}, 422,
   'and a different request is still 422');
is(jobs(), $before + 1, 'no new job');

# Expired records free the key.
$t->psql("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'k1'");
$t->stop_nginx;
$t->start_nginx($conf);
$r = post($ann, 'k1');
is($r->{status}, 201, 'an expired key makes a new job');
isnt($r->{json}{id}, $id, 'with a new id');

# issue 10: the IETF draft's Structured Field string ("abc") is the same key
# as the bare abc; two Idempotency-Key headers are refused
$r = post($ann, '"sf-1"');
is($r->{status}, 201, 'a quoted key: 201');
my $sf = $r->{json}{id};
$r = post($ann, 'sf-1');
is($r->{status}, 200, 'the same key bare: a replay');
is($r->{json}{id}, $sf, 'of the same job');
$r = post($ann, '"sf-\"2\\\\"');
is($r->{status}, 201, 'a quoted key with escapes: 201');
is($t->psql("SELECT key FROM idempotency_keys WHERE key LIKE 'sf-%2%'"), 'sf-"2\\',
   'stored unescaped');
for my $bad ('"unterminated', '"a\x"', '"in"side"', '""') {
    $r = post($ann, $bad);
    is($r->{status}, 400, "a malformed quoted key ($bad): 400");
}
my $s = $t->connect_nginx;
my $b2 = body("email\na\@b.c\n");
print $s "POST /imports?mode=insert_only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
       . "Authorization: Bearer $ann\r\nIdempotency-Key: two-a\r\nIdempotency-Key: two-b\r\n"
       . "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: " . length($b2) . "\r\n\r\n$b2";
my $raw = do { local $/; <$s> };
like($raw, qr{^HTTP/1\.1 400 }, 'two Idempotency-Key headers: 400, not the first one');
like($raw, qr/more than one Idempotency-Key/, 'saying so');
is($t->psql("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'two-%'"), 0, 'and neither key used');

$t->done;
