#!/usr/bin/perl
# ferry_upload: multipart and raw bodies streamed to the spool with size and
# SHA-256, the frame that tells ferryd about the file, and no file left
# behind by a refused, malformed, oversized or aborted upload, or one ferryd
# did not take. A large upload must not grow the nginx worker.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $spool = $t->writable_dir('spool');
my $kept = $t->dir . '/kept';
mkdir $kept;

# The stand-in for ferryd takes the file (moves it aside) when asked to.
$t->start_fake_ferryd(sub {
    my ($payload) = @_;
    my $req = $J->decode($payload);
    my %h;
    if (($req->{query}{take} // '') eq '1' && $req->{file}) {
        rename $req->{file}{path}, "$kept/" . ($req->{query}{as} // 'file') or die "rename: $!";
        $h{'Ferry-File'} = 'taken';
    }
    return Ferry::Test::response_frame(201, $J->encode({ frame => $req }), %h);
});

$t->start_nginx(<<'EOF');
    upstream ferryd { server unix:%%SOCK%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_spool_path %%DIR%%/spool;
        client_body_buffer_size 64k;
        location /up/ { ferry_upload field=file; ferry_pass ferryd; client_max_body_size 250m; }
        location /nohash/ { ferry_upload sha256=off; ferry_pass ferryd; }
        location /doc/ { ferry_upload field=document; ferry_pass ferryd; }
        location /small/ { ferry_upload; ferry_pass ferryd; client_max_body_size 1000; }
    }
EOF

sub multipart {
    my ($boundary, @parts) = @_;
    my $body = '';
    for my $p (@parts) {
        my ($name, $content, $filename, $type) = @$p;
        $body .= "--$boundary\r\nContent-Disposition: form-data; name=\"$name\""
               . (defined $filename ? "; filename=\"$filename\"" : '') . "\r\n"
               . (defined $type ? "Content-Type: $type\r\n" : '') . "\r\n$content\r\n";
    }
    return $body . "--$boundary--\r\n";
}

sub upload {
    my ($path, $body, $ctype) = @_;
    return $t->http(POST => $path, body => $body,
                    headers => { 'Content-Type' => $ctype // 'multipart/form-data; boundary=BoUnDaRy' });
}

sub spool_files { opendir my $d, $spool or die; grep { !/^\./ } readdir $d }

# The request's pool (and with it the file) goes a moment after the answer.
sub spool_empty {
    eval { $t->wait_for('empty spool', sub { !spool_files() }, 1) };
    diag 'left in the spool: ' . join(' ', spool_files()) if spool_files();
    return scalar spool_files() == 0;
}

my $csv = "email,first_name\r\na\@b.c,Ann\r\n--BoUnDaR\r\n\"x\r\ny\",z\n";
my $body = multipart('BoUnDaRy', ['mode', 'upsert'], ['file', $csv, 'C:\\Users\\me\\people.csv', 'text/csv'],
                     ['note', 'ignored']);

my $r = upload('/up/imports?take=1&as=a.csv', $body);
is($r->{status}, 201, 'multipart upload: answered by ferryd');
my $f = $r->{json}{frame}{file};
like($f->{path}, qr{^\Q$spool\E/upload-[0-9a-f]+$}, 'frame names the spool file');
is($f->{size}, length $csv, 'frame has the size of the file part alone');
is($f->{sha256}, sha256_hex($csv), 'frame has its SHA-256');
is($f->{name}, 'people.csv', 'original file name, without the client path');
is($f->{type}, 'text/csv', 'content type of the part');
ok(!defined $r->{json}{frame}{body}, 'no JSON body in the frame');
is($t->read_file("$kept/a.csv"), $csv, 'the spooled bytes are exactly the file part');
is(scalar spool_files(), 0, 'nothing else left in the spool');

$r = upload('/up/imports', $body);
is($r->{status}, 201, 'upload ferryd did not take');
ok(spool_empty(), 'its file is removed when the request ends');

$r = upload('/up/imports?take=1&as=one', multipart('BoUnDaRy', ['file', 'x', 'one.csv']));
is($r->{json}{frame}{file}{size}, 1, '1-byte upload');
is($t->read_file("$kept/one"), 'x', '1-byte upload content');

$r = upload('/up/imports?take=1&as=raw', "raw,body\n1,2\n", 'text/csv');
is($r->{status}, 201, 'raw (non-multipart) body');
is($r->{json}{frame}{file}{size}, 13, 'raw body: whole body is the file');
is($r->{json}{frame}{file}{type}, 'text/csv', 'raw body: its Content-Type');
ok(!defined $r->{json}{frame}{file}{name}, 'raw body: no file name');
is($t->read_file("$kept/raw"), "raw,body\n1,2\n", 'raw body content');

$r = upload('/nohash/x', multipart('BoUnDaRy', ['file', 'abc', 'a.csv']));
is($r->{status}, 201, 'sha256=off');
ok(!defined $r->{json}{frame}{file}{sha256}, 'sha256=off: no hash in the frame');

$r = upload('/doc/x?take=1&as=doc', multipart('BoUnDaRy', ['file', 'no'], ['document', 'yes', 'd.txt']));
is($t->read_file("$kept/doc"), 'yes', 'field= picks the named field');

# Refusals leave nothing behind.
$r = upload('/up/x', multipart('BoUnDaRy', ['other', 'abc', 'a.csv']));
is($r->{status}, 422, 'no file field: 422');
like($r->{json}{error}, qr/file field/, 'with a JSON error');
ok(spool_empty(), 'nothing left');

$r = upload('/up/x', "--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc");
is($r->{status}, 400, 'multipart without its closing boundary: 400');
like($r->{json}{error}, qr/malformed/, 'with a JSON error');
ok(spool_empty(), 'nothing left');

$r = upload('/up/x', 'x', 'multipart/form-data');
is($r->{status}, 400, 'multipart without a boundary: 400');

my $at_limit = multipart('BoUnDaRy', ['file', '']);
$at_limit = multipart('BoUnDaRy', ['file', 'y' x (1000 - length $at_limit)]);
is(length $at_limit, 1000, 'a body of exactly client_max_body_size');
is(upload('/small/x', $at_limit)->{status}, 201, 'exactly the limit: accepted');
$r = upload('/small/x', multipart('BoUnDaRy', ['file', 'y' x (1001 - length multipart('BoUnDaRy', ['file', '']))]));
is($r->{status}, 413, 'limit + 1: 413');
is_deeply($r->{json}, { error => 'request body too large' }, '413 in JSON');
ok(spool_empty(), 'nothing left');

# Chunked over the limit: refused while streaming, the partial file removed.
my ($st) = $t->post_chunked('/small/x', ('z' x 600) x 2);
is($st, 413, 'chunked body over the limit: 413');
ok(spool_empty(), 'nothing left');

# A boundary split across TCP segments, one byte at a time around it.
my $split = multipart('BoUnDaRy', ['file', "a\r\n--BoUnDaRx\r\n" . ('q' x 3000), 'split.csv']);
my $s = $t->connect_nginx;
$s->autoflush(1);
print $s "POST /up/x?take=1&as=split HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
       . "Content-Type: multipart/form-data; boundary=BoUnDaRy\r\nContent-Length: "
       . length($split) . "\r\n\r\n";
my $cut = index($split, "\r\n--BoUnDaRy--");
print $s substr($split, 0, $cut - 2);
for my $i ($cut - 2 .. length($split) - 1) { print $s substr($split, $i, 1); sleep 0.002; }
($st) = Ferry::Test::read_http($s);
is($st, 201, 'boundary dribbled across segments: 201');
is($t->read_file("$kept/split"), "a\r\n--BoUnDaRx\r\n" . ('q' x 3000), 'and the file is exact');

# The client goes away mid-upload: nothing is left.
$s = $t->connect_nginx;
print $s "POST /up/x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n";
print $s 'a' x 100_000;
sleep 0.3;
ok(scalar spool_files() >= 1, 'while the upload runs its .part file exists');
close $s;
ok(spool_empty(), 'client gone: nothing left');

# 200 MB: the worker's memory does not grow with the upload.
my $mb = 200;
my $big = $t->upload_big('/up/x?take=1&as=big', $mb);
is($big->{status}, 201, "$mb MB upload: 201");
my $f_big = $J->decode($big->{body})->{frame}{file};
is($f_big->{size}, $mb * 1024 * 1024, "$mb MB upload: size");
is($f_big->{sha256}, $big->{sha256}, "$mb MB upload: SHA-256");
is(-s "$kept/big", $mb * 1024 * 1024, "$mb MB upload: the file on disk");
cmp_ok($big->{peak} - $big->{before}, '<', 4096, "$mb MB upload: worker RSS grew by less than 4 MB")
    or diag "before $big->{before} kB, peak $big->{peak} kB";
unlink "$kept/big";

$t->done;
