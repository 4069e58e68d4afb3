#!/usr/bin/perl
# A full spool (issue 10): an upload that does not fit gets 507 with a JSON
# message naming the cause, one ERROR line in nginx's log, no job and no
# partial file; once there is room again, uploads work. The same with the
# SHA-256 in a thread pool, where the write fails while a piece is being
# hashed. The spool is a 1 MiB tmpfs mounted for the test.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();
plan skip_all => 'needs root to mount a small tmpfs' unless Ferry::Test::is_root();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my ($rc, $out) = $t->run_cmd(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=2775', 'tmpfs', $spool]);
plan skip_all => "cannot mount a tmpfs here: $out" if $rc;
$t->run_cmd(['chown', 'www-data:www-data', $spool]);
END { system('umount', '-l', $spool) if $spool && !$rc }

$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool);
$t->start_nginx(Ferry::Test::imports_conf(<<'EOF'));
        client_max_body_size 16m;
        location = /imports-threads {
            ferry_auth jwt;
            ferry_upload field=file thread_pool=default;
            ferry_pass ferryd;
        }
EOF
my $token = $t->user_token('full@example.com');
my $key = 0;

sub upload {
    my ($bytes, $path) = @_;
    my $csv = "email,first_name,last_name,phone,city\n" . ("x" x $bytes);
    return $t->http(POST => ($path // '/imports') . '?mode=insert_only',
        body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\r\n$csv\r\n--B--\r\n",
        headers => { Authorization => "Bearer $token", 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => 'full-' . ++$key });
}

my $r = upload(3 * 1024 * 1024);
is($r->{status}, 507, 'an upload larger than the free space: 507, not 500');
like($r->{json}{error}, qr/spool is full/, 'the message names the cause');
is(scalar(() = glob("$spool/*")), 0, 'no partial file is left');
is($t->psql('SELECT count(*) FROM jobs'), 0, 'no job');
my @lines = grep { /spool is full/ } split /\n/, $t->read_file('error.log');
is(scalar @lines, 1, 'one line in the log');
like($lines[0] // '', qr/\[error\].*No space left on device/, 'at error level, with the reason');

$r = upload(1000);
is($r->{status}, 201, 'a small upload still fits afterwards');

$r = upload(3 * 1024 * 1024, '/imports-threads');
is($r->{status}, 507, 'thread_pool=: the same 507');
like($r->{json}{error}, qr/spool is full/, 'with the same message');
is(scalar(() = glob("$spool/upload-*.part")), 0, 'and no partial file');

$t->done;
