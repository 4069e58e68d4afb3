#!/usr/bin/perl
# errors.csv in S3-compatible storage: with S3_ENDPOINT_URL set, the report
# is PUT to the bucket and GET /imports/{id}/errors answers a SigV4
# presigned URL on S3_PUBLIC_ENDPOINT_URL that curl downloads.
#
# The peer is s3rver 3.7.1 (npm, installed by build.sh), the S3 emulator the
# project's rules allow. It checks the presigned parameters, the access key
# and the expiry (403 AccessDenied "Request has expired") but, as its own
# source says, not the V4 signature itself (see ../shared/reference): the
# signature is proved by t/unit/test_s3_sign.c, which reproduces the example
# of AWS's S3 API reference ("Authenticating Requests: Using Query
# Parameters (AWS Signature Version 4)") to the byte, and botocore's URLs.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();
my $s3rver = Ferry::Test::root() . '/build/node/node_modules/.bin/s3rver';
plan skip_all => "s3rver is not installed ($s3rver; ./build.sh installs it)" unless -x $s3rver;

my $t = Ferry::Test->new;
my $s3port = Ferry::Test::free_port();
mkdir $t->dir . '/s3';
$t->spawn('s3rver', [$s3rver, '-d', $t->dir . '/s3', '-a', '127.0.0.1', '-p', $s3port, '-s',
                     '--configure-bucket', 'ferry-reports']);
$t->wait_for('s3rver', sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$s3port") }, 30);

my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool, REPORTS_DIR => $reports,
                 S3_ENDPOINT_URL => "http://127.0.0.1:$s3port",
                 S3_PUBLIC_ENDPOINT_URL => "http://localhost:$s3port",
                 S3_ACCESS_KEY => 'S3RVER', S3_SECRET_KEY => 'S3RVER', S3_BUCKET => 'ferry-reports',
                 S3_PRESIGN_TTL_SECONDS => 600);
$t->start_nginx(Ferry::Test::imports_conf());
my $token = $t->user_token('s3@example.com');
my %auth = (Authorization => "Bearer $token");

my $csv = "email,first_name,last_name,phone,city\nok\@example.com,A,B,C,D\nbroken,,,,\n";
my $r = $t->http(POST => '/imports?mode=insert_only',
    body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\n$csv\r\n--B--\r\n",
    headers => { %auth, 'Content-Type' => 'multipart/form-data; boundary=B', 'Idempotency-Key' => 's3' });
my $id = $r->{json}{id};
my $j;
$t->wait_for('import', sub {
    $j = $t->http(GET => "/imports/$id", headers => { %auth })->{json};
    $j->{status} =~ /done|failed/ }, 30);
is($j->{status}, 'done', 'import done');
is($j->{error_rows}, 1, 'one bad row');
ok(!-e "$reports/$id-errors.csv", 'the report is not kept in REPORTS_DIR');
ok(-e $t->dir . "/s3/ferry-reports/reports/$id-errors.csv._S3rver_object"
   || glob($t->dir . "/s3/ferry-reports/reports/$id-errors.csv*"), 'it is in the bucket');

$r = $t->http(GET => "/imports/$id/errors", headers => { %auth });
is($r->{status}, 200, 'errors: 200');
my $url = $r->{json}{url};
like($url, qr{^http://localhost:$s3port/ferry-reports/reports/$id-errors\.csv\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=S3RVER%2F\d{8}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=\d{8}T\d{6}Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=[0-9a-f]{64}$},
     'a SigV4 presigned URL on the public endpoint');
ok($r->{json}{expires_at}, 'with its expiry');

my ($rc, $body) = $t->run_cmd(['curl', '-sf', '-L', $url]);
is($rc, 0, 'curl downloads it');
like($body, qr/^line,email,error,raw\r?\n3,broken,invalid email,/, 'the errors.csv');

(my $expired = $url) =~ s/X-Amz-Date=\d{8}T\d{6}Z/X-Amz-Date=20200101T000000Z/;
($rc, $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', $expired]);
like($body, qr/expired.* 403$/s, 'an expired presigned URL: 403 from the store');
(my $stranger = $url) =~ s/S3RVER%2F/NOBODY%2F/;
($rc, $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', $stranger]);
like($body, qr/ 403$/, 'an unknown access key: 403');

$t->done;
