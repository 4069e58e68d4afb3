#!/usr/bin/perl
# SPEC B, end to end through nginx: CSV imports in insert_only and upsert
# modes, row errors with line numbers in errors.csv behind a signed link,
# progress, cancel, listing, binary and empty files, and a ferryd killed in
# the middle of an import that resumes with exactly the right rows.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
my $port = $t->port;
my %ferryd = (SPOOL_DIR => $spool, REPORTS_DIR => $reports, BATCH_SIZE => 50,
              REPORTS_URL => "http://127.0.0.1:$port/reports", JOB_STALE_SECONDS => 1);
$t->start_pg->migrate;
$t->start_ferryd(%ferryd);
$t->start_nginx(Ferry::Test::imports_conf('        location /reports/ { ferry_signed_download on; alias %%DIR%%/reports/; }'));

my $token = $t->user_token('ann@example.com');
my $other = $t->user_token('bob@example.com');
my %auth = (Authorization => "Bearer $token");
my $key = 0;

sub upload {
    my ($csv, $mode, %o) = @_;
    my $q = defined $mode ? "?mode=$mode" : '';
    return $t->http(POST => "/imports$q",
        body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\r\n$csv\r\n--B--\r\n",
        headers => { %auth, 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => 'k' . ++$key });
}

sub job { $t->http(GET => "/imports/$_[0]", headers => { %auth })->{json} }

sub finished {
    my ($id, $secs) = @_;
    my $j;
    $t->wait_for("import $id", sub { $j = job($id); $j->{status} =~ /^(done|failed|cancelled)$/ },
                 $secs // 30);
    return $j;
}

my $csv = "\xef\xbb\xbfemail,first_name,last_name,phone,city\r\n"
        . "a\@example.com,Ann,A,+1,Paris\r\n"                 # 2
        . "b\@example.com,\"Bob, Jr\",\"B \"\"the\"\" B\",,\"New\nYork\"\r\n"   # 3-4
        . "not-an-email,x,y,z,w\r\n"                         # 5
        . "a\@example.com,Again,A,,\r\n"                     # 6 duplicate in file
        . "c\@example.com,too,few\r\n"                       # 7
        . "d\@example.com,1,2,3,4,5\r\n"                     # 8
        . "e\@example.com,\xff\xfe,x,y,z\r\n"                # 9 invalid UTF-8
        . ",no,email,at,all\r\n"                             # 10
        . "f\@example.com,"  . ('x' x 2000) . ",l,p,c\r\n"   # 11 over-long field
        . "G\@Example.COM,Gee,G,,Rome";                      # 12, no final newline

my $r = upload($csv, 'insert_only');
is($r->{status}, 201, 'upload: 201');
my $id = $r->{json}{id};
my $first_id = $id;
is($r->{json}{status}, 'pending', 'pending at first');
is($r->{json}{mode}, 'insert_only', 'the mode');
is($r->{json}{file_name}, 'c.csv', 'the file name');
is($r->{json}{file_size}, length $csv, 'the file size');

my $j = finished($id);
is($j->{status}, 'done', 'insert_only: done');
is($j->{processed_rows}, 10, 'every data row processed');
is($j->{total_rows}, 10, 'total_rows once known');
is($j->{inserted}, 3, 'three rows inserted');
is($j->{error_rows}, 7, 'seven row errors');
ok($j->{started_at} && $j->{finished_at}, 'timestamps');
is($t->psql("SELECT string_agg(email || ':' || coalesce(first_name, '') || ':' || coalesce(city, ''), ' ' ORDER BY email) FROM customers"),
   "G\@example.com:Gee:Rome a\@example.com:Ann:Paris b\@example.com:Bob, Jr:New\nYork",
   'the good rows, quoting and newlines intact, email domain lower-cased, first occurrence kept');
is(scalar(() = glob("$spool/*")), 0, 'the spool file is gone');

$r = $t->http(GET => "/imports/$id/errors", headers => { %auth });
is($r->{status}, 200, 'errors: 200');
like($r->{json}{url}, qr{^http://127\.0\.0\.1:$port/reports/$id-errors\.csv\?expires=\d+&sig=[0-9a-f]{64}$},
     'a signed, expiring link');
ok($r->{json}{expires_at}, 'with its expiry');
my $url = $r->{json}{url};
my ($rc, $report) = $t->run_cmd(['curl', '-sf', $url]);
is($rc, 0, 'the link downloads');
my @lines = split /\r?\n(?=\d|$)/, $report;
is($lines[0], 'line,email,error,raw', 'errors.csv header');
my %err = map { /^(\d+),([^,]*),("[^"]*"|[^,]*),/ ? ($1 => [$2, $3]) : () } @lines[1 .. $#lines];
is_deeply([sort { $a <=> $b } keys %err], [5, 6, 7, 8, 9, 10, 11], 'every bad row, by line number');
like($err{5}[1], qr/invalid email/, 'line 5: invalid email');
like($err{6}[1], qr/duplicate email \(first on line 2\)/, 'line 6: duplicate in the file');
like($err{7}[1], qr/expected 5 fields, found 3/, 'line 7: short row');
like($err{8}[1], qr/expected 5 fields, found 6/, 'line 8: long row');
like($err{9}[1], qr/invalid UTF-8/, 'line 9: invalid UTF-8');
like($err{10}[1], qr/email is required/, 'line 10: no email');
like($err{11}[1], qr/longer than 1024/, 'line 11: over-long field');
like($report, qr/\n6,a\@example\.com,.*,"?a\@example\.com,Again,A,,/, 'raw row text kept');

(my $bad = $url) =~ s/sig=(.)/'sig=' . ($1 eq 'a' ? 'b' : 'a')/e;
($rc, my $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', $bad]);
like($body, qr/signature.* 403$/, 'a tampered link: 403');
my $path = "/reports/$id-errors.csv";
my $past = int(time) - 10;
my $sig = hmac_sha256_hex("$path\n$past", $t->link_key);
($rc, $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', "http://127.0.0.1:$port$path?expires=$past&sig=$sig"]);
like($body, qr/expired.* 403$/, 'an expired link: 403');
my $future = int(time) + 600;
($rc, $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', "http://127.0.0.1:$port$path?expires=$future&sig="
    . hmac_sha256_hex("$path\n$future", $t->jwt_secret)]);
like($body, qr/signature.* 403$/, 'a link signed with the JWT secret itself: 403 (links have a key of their own)');
($rc, $body) = $t->run_cmd(['curl', '-s', '-w', ' %{http_code}', "http://127.0.0.1:$port$path"]);
like($body, qr/ 403$/, 'no link at all: 403');

is($t->http(GET => "/imports/$id", headers => { Authorization => "Bearer $other" })->{status}, 404,
   "another user's import: 404");
is($t->http(GET => "/imports/$id/errors", headers => { Authorization => "Bearer $other" })->{status}, 404,
   "and its errors: 404");

# upsert: existing rows updated, the file's last occurrence wins
$r = upload("email,first_name,last_name,phone,city\n"
          . "a\@example.com,Anne,,,Lyon\nh\@example.com,H,,,\nh\@example.com,Hugo,,,Oslo\n", 'upsert');
$j = finished($r->{json}{id});
is($j->{status}, 'done', 'upsert: done');
is($j->{inserted} + $j->{updated}, 3, 'every row counted');
is($j->{error_rows}, 0, 'no errors');
is($t->psql("SELECT first_name || ':' || city FROM customers WHERE email = 'a\@example.com'"), 'Anne:Lyon',
   'an existing row updated');
is($t->psql("SELECT first_name || ':' || city FROM customers WHERE email = 'h\@example.com'"), 'Hugo:Oslo',
   'the last occurrence wins');
is($t->http(GET => "/imports/$r->{json}{id}/errors", headers => { %auth })->{status}, 404,
   'no errors: 404 for the report');

# the same upsert again: every row counted, the unchanged ones left alone
my $stamp = $t->psql("SELECT updated_at FROM customers WHERE email = 'h\@example.com'");
$r = upload("email,first_name,last_name,phone,city\nh\@example.com,Hugo,,,Oslo\n"
          . "a\@example.com,Anne,,,Nice\n", 'upsert');
$j = finished($r->{json}{id});
is($j->{inserted} + $j->{updated}, 2, 'a repeated upsert counts every row');
is($t->psql("SELECT updated_at FROM customers WHERE email = 'h\@example.com'"), $stamp,
   'a row already holding the values is not rewritten');
is($t->psql("SELECT city FROM customers WHERE email = 'a\@example.com'"), 'Nice', 'a changed one is');

is(upload("email\n", undef)->{status}, 422, 'no mode: 422');
is(upload("email\n", 'merge')->{status}, 422, 'unknown mode: 422');

$j = finished(upload('', 'insert_only')->{json}{id});
is("$j->{status}/$j->{processed_rows}", 'done/0', 'an empty file: done, 0 rows');
$j = finished(upload("email,first_name,last_name,phone,city\r\n", 'insert_only')->{json}{id});
is("$j->{status}/$j->{processed_rows}", 'done/0', 'a header only: done, 0 rows');
$j = finished(upload("PK\x03\x04\x14\0\0\0\x08\0binary", 'insert_only')->{json}{id});
is($j->{status}, 'failed', 'a binary file: failed');
like($j->{error}, qr/not a CSV text file/, 'with a clear error');

# list, newest first, with a cursor
$r = $t->http(GET => '/imports?limit=2', headers => { %auth });
is(scalar @{ $r->{json}{items} }, 2, 'list: limit');
ok($r->{json}{next_cursor}, 'list: a cursor');
my $r2 = $t->http(GET => "/imports?limit=100&cursor=$r->{json}{next_cursor}", headers => { %auth });
is(scalar(@{ $r2->{json}{items} }) + 2, 6, 'list: the cursor continues where it stopped (six imports made)');
ok($r->{json}{items}[0]{created_at} ge $r->{json}{items}[1]{created_at}, 'newest first');

# slow batches: progress grows, the report is not ready, cancel stops it
$t->stop_ferryd;
$t->start_ferryd(%ferryd, BATCH_SIZE => 10, IMPORT_SLOW_MS => 150);
my $big = "email,first_name,last_name,phone,city\n" . join('', map { "slow$_\@example.com,F,L,P,C\n" } 1 .. 200);
$id = upload($big, 'insert_only')->{json}{id};
my @seen;
$t->wait_for('progress', sub { push @seen, job($id)->{processed_rows}; $seen[-1] >= 30 }, 20);
ok($seen[-1] > $seen[0] || $seen[0] > 0, 'processed_rows grows while the job runs');
is(job($id)->{status}, 'processing', 'processing meanwhile');
$r = $t->http(GET => "/imports/$id/errors", headers => { %auth });
is($r->{status}, 409, 'errors while processing: 409');
is_deeply($r->{json}, { detail => 'not ready' }, 'not ready');
$r = $t->http(DELETE => "/imports/$id", headers => { %auth });
is($r->{status}, 200, 'cancel: 200');
is($r->{json}{status}, 'cancelled', 'cancelled');
sleep 0.5;
$j = job($id);
my $kept = $t->psql("SELECT count(*) FROM customers WHERE email LIKE 'slow%'");
ok($kept > 0 && $kept < 200, "rows already committed stay ($kept)");
is($j->{inserted}, $kept, 'and the job says how many');
is($t->http(DELETE => "/imports/$id", headers => { %auth })->{status}, 409, 'cancel again: 409');

# kill -9 in the middle, start again: resumes, exact rows, complete errors
my $rows = "email,first_name,last_name,phone,city\n";
for my $i (1 .. 300) {
    $rows .= $i % 50 == 0 ? "bad-$i,,,,\n" : "crash$i\@example.com,F$i,,,\n";
}
$id = upload($rows, 'insert_only')->{json}{id};
$t->wait_for('some batches', sub { job($id)->{processed_rows} >= 60 }, 20);
$t->stop_ferryd('KILL');
my $at_kill = $t->psql("SELECT progress->>'processed_rows' FROM jobs WHERE id = '$id'");
ok($at_kill > 0 && $at_kill < 300, "killed after $at_kill committed rows");
$t->start_ferryd(%ferryd, BATCH_SIZE => 10, IMPORT_SLOW_MS => 10);
$j = finished($id, 60);
is($j->{status}, 'done', 'after the restart the job finishes');
is($j->{processed_rows}, 300, 'every row processed once');
is($t->psql("SELECT count(*) FROM customers WHERE email LIKE 'crash%'"), 294, 'exactly the good rows, none twice');
is($j->{inserted}, 294, 'inserted counts them once');
is($j->{error_rows}, 6, 'six bad rows');
is($t->psql("SELECT count(*) FROM import_errors WHERE job_id = '$id'"), 6, 'each recorded once');
like($t->read_file('ferryd.log'), qr/resuming at line/, 'the log says it resumed');

# reports expire after REPORT_TTL
my $first = "$reports/$first_id-errors.csv";
ok(-e $first, 'the first report is still there');
utime time - 100, time - 100, $first;
$t->stop_ferryd;
$t->start_ferryd(%ferryd, REPORT_TTL => 50);
$t->wait_for('old report removed', sub { !-e $first }, 10);
ok(!-e $first, 'a report older than REPORT_TTL is removed');
ok(-e "$reports/$id-errors.csv", 'a younger one stays');
is($t->http(GET => "/imports/$first_id/errors", headers => { %auth })->{status}, 404,
   'its link is then 404');

$t->done;
