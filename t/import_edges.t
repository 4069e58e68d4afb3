#!/usr/bin/perl
# Imports at their edges (issue 10): query values that are not text, list
# paging with a bad cursor or limit, uploads with no file, two files or a
# very long file name, errors.csv served as CSV with formula cells
# neutralised, and a client that goes away right after its upload.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
my $port = $t->port;
$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool, REPORTS_DIR => $reports,
                 REPORTS_URL => "http://127.0.0.1:$port/reports");
$t->start_nginx(Ferry::Test::imports_conf(
    '        location /reports/ { alias %%DIR%%/reports/; include %%ROOT%%/conf/ferry-reports.conf; }'));

my $token = $t->user_token('edge@example.com');
my %auth = (Authorization => "Bearer $token");
my $key = 0;

sub post {
    my ($query, $body, %h) = @_;
    return $t->http(POST => "/imports$query", body => $body,
        headers => { %auth, 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => 'e' . ++$key, %h });
}

sub part {
    my ($name, $filename, $data) = @_;
    return "--B\r\nContent-Disposition: form-data; name=\"$name\"; filename=\"$filename\"\r\n\r\n$data\r\n";
}

sub finished {
    my ($id) = @_;
    my $j;
    $t->wait_for("import $id", sub {
        $j = $t->http(GET => "/imports/$id", headers => { %auth })->{json};
        $j->{status} =~ /^(done|failed|cancelled)$/ });
    return $j;
}

my $csv = "email,first_name,last_name,phone,city\na\@example.com,A,B,,C\n";

# a NUL byte in a query value is not cut off: upsert%00junk is no mode
my $r = post('?mode=upsert%00junk', part('file', 'c.csv', $csv) . "--B--\r\n");
is($r->{status}, 422, 'mode=upsert%00junk: 422, not taken as upsert');
is($r->{json}{field}, 'mode', 'naming mode');
is(scalar(() = glob("$spool/*")), 0, 'and no upload left in the spool');

# no file at all
$r = $t->http(POST => '/imports?mode=insert_only', body => '',
    headers => { %auth, 'Idempotency-Key' => 'e' . ++$key });
is($r->{status}, 422, 'no body: 422, not a job of size 0');
is($r->{json}{field}, 'file', 'naming file');
$r = post('?mode=insert_only', part('other', 'c.csv', $csv) . "--B--\r\n");
is($r->{status}, 422, 'a form without the file field: 422');
is($r->{json}{field}, 'file', 'naming file');

# two files: which one would the client expect?
$r = post('?mode=insert_only', part('file', 'a.csv', $csv) . part('file', 'b.csv', $csv) . "--B--\r\n");
is($r->{status}, 422, 'two file parts: 422, not the first one silently');
is($r->{json}{field}, 'file', 'naming file');
like($r->{json}{error}, qr/more than one/, 'saying why');
is($t->psql("SELECT count(*) FROM jobs"), 0, 'no job');
is(scalar(() = glob("$spool/*")), 0, 'no upload left in the spool');

# a file name over 255 bytes is kept, shortened
my $long = ('n' x 296) . '.csv';
$r = post('?mode=insert_only', part('file', $long, $csv) . "--B--\r\n");
is($r->{status}, 201, 'a 300-byte file name: 201, not a misleading 400');
is($r->{json}{file_name}, substr($long, 0, 255), 'kept as its first 255 bytes');
is(finished($r->{json}{id})->{status}, 'done', 'and imported');

# paging: a cursor is an earlier page's next_cursor, nothing else
for my $case (['cursor=xyz', 'cursor', 'a cursor that is not an id'],
              ['cursor=00000000-0000-0000-0000-000000000000', 'cursor', 'an id that is not an import of mine'],
              ['limit=5abc', 'limit', 'a limit with junk after the number'],
              ['limit=0', 'limit', 'limit 0']) {
    my ($q, $field, $name) = @$case;
    $r = $t->http(GET => "/imports?$q", headers => { %auth });
    is($r->{status}, 422, "$name: 422, not an empty page");
    is($r->{json}{field}, $field, "naming $field");
}
$r = $t->http(GET => '/imports?limit=1', headers => { %auth });
is($r->{status}, 200, 'a first page');
my $next = $r->{json}{next_cursor};
ok(!defined $next, 'one import: no next page');
is($t->http(GET => '/imports/not-a-uuid', headers => { %auth })->{status}, 404, 'an id that is no uuid: 404');

# a cursor in upper case is the same cursor (a uuid is case-blind)
post('?mode=insert_only', part('file', 'second.csv', $csv) . "--B--\r\n");
$r = $t->http(GET => '/imports?limit=1', headers => { %auth });
my $upper = uc($r->{json}{next_cursor} // '');
ok($upper, 'two imports: a next page');
$r = $t->http(GET => "/imports?limit=1&cursor=$upper", headers => { %auth });
is($r->{status}, 200, 'its cursor in upper case: 200');
is(scalar @{ $r->{json}{items} || [] }, 1, 'and the next page, not an empty one');

# errors.csv: CSV, and no formula runs when a spreadsheet opens it
my $evil = "email,first_name,last_name,phone,city\n"
         . "=1+2,x,y,z,w\n"                         # line 2: email is a formula
         . "+cmd\@x,a,b,c,d\n"                      # line 3
         . "-2+3\@x,a,b,c\n"                        # line 4: four fields
         . "\@SUM(A1)\@x.y,a,b,c,d,e\n"             # line 5: six fields
         . "ok\@example.com,\"=HYPERLINK(\"\"http://x\"\")\",b\n";   # line 6
$r = post('?mode=insert_only', part('file', 'evil.csv', $evil) . "--B--\r\n");
is($r->{status}, 201, 'a file of formulas: 201');
my $j = finished($r->{json}{id});
is($j->{error_rows}, 5, 'five bad rows');
$r = $t->http(GET => "/imports/$j->{id}/errors", headers => { %auth });
my ($rc, $out) = $t->run_cmd(['curl', '-s', '-D', '-', $r->{json}{url}]);
my ($head, $report) = split /\r\n\r\n/, $out, 2;
like($head, qr{^Content-Type: text/csv; charset=utf-8\r?$}mi, 'served as text/csv; charset=utf-8');
like($head, qr{^X-Content-Type-Options: nosniff\r?$}mi, 'with nosniff');
my @cells = grep { length } map { s/^"|"$//gr } map { split /,(?=(?:[^"]*"[^"]*")*[^"]*$)/ } split /\n/, $report;
my @formulas = grep { /^[=+\-\@\t\r]/ && !/^-?\d+$/ } @cells;
is_deeply(\@formulas, [], 'no cell of the report starts a formula')
    or diag explain \@formulas;
like($report, qr/^2,'=1\+2,/m, "a formula email is prefixed with '");
like($report, qr/^3,'\+cmd\@x,/m, 'so is one starting with +');
like($report, qr/^4,'-2\+3\@x,/m, 'and with -');
like($report, qr/^5,'\@SUM/m, 'and with @');
like($report, qr/^2,'=1\+2,invalid email,"'=1\+2,x,y,z,w"$/m, 'the raw text too, not only the email');
like($report, qr/^6,ok\@example.com,.*,"ok\@example.com,""=HYPERLINK/m,
     'a formula inside a cell that starts otherwise is left as it was');

# a client that goes away right after its upload is not an ERROR in ferryd:
# the test holds idempotency_keys so ferryd is still busy when it leaves
open(my $lock, '|-', 'psql', '-X', '-q', '-h', $t->{pg_host}, '-p', $t->{pg_port},
     '-U', 'postgres', '-d', 'ferry') or die "psql: $!";
$lock->autoflush(1);
print $lock "BEGIN; LOCK TABLE idempotency_keys IN EXCLUSIVE MODE;\n";
$t->wait_for('the lock', sub { $t->psql("SELECT count(*) FROM pg_locks WHERE "
    . "relation = 'idempotency_keys'::regclass AND mode = 'ExclusiveLock' AND granted") == 1 });
my $body = part('file', 'gone.csv', $csv) . "--B--\r\n";
my $s = $t->connect_nginx;
print $s "POST /imports?mode=insert_only HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
       . "Idempotency-Key: gone-1\r\nContent-Type: multipart/form-data; boundary=B\r\n"
       . "Content-Length: " . length($body) . "\r\n\r\n$body";
$t->wait_for('ferryd waiting on the lock', sub { $t->psql("SELECT count(*) FROM pg_stat_activity "
    . "WHERE wait_event_type = 'Lock' AND query LIKE '%idempotency_keys%'") >= 1 });
close $s;
$t->wait_for('nginx removed the upload', sub { !glob("$spool/*") });
print $lock "COMMIT;\n";
close $lock;
$t->wait_for('ferryd gave up on it', sub { $t->read_file('ferryd.log') =~ /the upload is gone/ });
my $log = $t->read_file('ferryd.log');
unlike($log, qr/ERROR .*rename/, 'no ERROR for a vanished upload');
like($log, qr/INFO .*the upload is gone/, 'an INFO line says what happened');
is($t->psql("SELECT count(*) FROM jobs WHERE params->'file'->>'name' = 'gone.csv'"), 0, 'and no job');

$t->done;
