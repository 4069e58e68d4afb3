#!/usr/bin/perl
# ferry_upload thread_pool=: SHA-256 in a thread of an nginx thread pool
# while the worker writes. The hash must be sha256sum's for multipart and raw
# bodies of every size around the buffer's and many buffers long, also when
# uploads outnumber the pool's threads and its queue; a refusal found while a
# hash runs is answered once it is done; a client that goes away while its
# hashes are in flight leaves no file and no alert; the worker stays flat.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Socket qw(SOL_SOCKET SO_LINGER);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();
plan skip_all => 'curl and sha256sum needed'
    if system('curl --version >/dev/null 2>&1 && sha256sum --version >/dev/null 2>&1');

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $spool = $t->writable_dir('spool');
my $kept = $t->dir . '/kept';
mkdir $kept;

# one thread for every upload, and a queue of one: posts beyond it are
# hashed in the worker
$t->{nginx_main} = "thread_pool one threads=1;\nthread_pool tiny threads=1 max_queue=1;";

$t->start_fake_ferryd(sub {
    my ($payload) = @_;
    my $req = $J->decode($payload);
    my %h;
    if (($req->{query}{take} // '') eq '1' && $req->{file}) {
        rename $req->{file}{path}, "$kept/" . $req->{query}{as} or die "rename: $!";
        $h{'Ferry-File'} = 'taken';
    }
    return Ferry::Test::response_frame(201, $J->encode({ file => $req->{file} }), %h);
});

$t->start_nginx(<<'EOF');
    upstream ferryd { server unix:%%SOCK%%; }
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_spool_path %%DIR%%/spool;
        client_body_buffer_size 64k;
        location /t/ { ferry_upload thread_pool=one; ferry_pass ferryd; }
        location /tiny/ { ferry_upload thread_pool=tiny; ferry_pass ferryd; }
        location /inline/ { ferry_upload; ferry_pass ferryd; }
        location /nohash/ { ferry_upload sha256=off thread_pool=one; ferry_pass ferryd; }
        location /zip/ { ferry_upload type=zip thread_pool=one; ferry_pass ferryd; }
        location /small/ { ferry_upload thread_pool=one; ferry_pass ferryd; client_max_body_size 3m; }
        location /big/ { ferry_upload thread_pool=one; ferry_pass ferryd; client_body_buffer_size 1m; client_max_body_size 300m; }
        location /slow/ { ferry_upload thread_pool=one; ferry_pass ferryd; client_body_buffer_size 4m; }
    }
EOF

my $url = 'http://127.0.0.1:' . $t->port;

sub sha256sum { (`sha256sum $_[0]` =~ /^([0-9a-f]{64})/)[0] }

sub spool_files { opendir my $d, $spool or die; grep { !/^\./ } readdir $d }

sub spool_empty {
    eval { $t->wait_for('empty spool', sub { !spool_files() }, 2) };
    diag 'left in the spool: ' . join(' ', spool_files()) if spool_files();
    return scalar spool_files() == 0;
}

# Bytes of every value, "\r\n--" among them (a delimiter's start that is no
# delimiter), the same for the same seed.
sub write_bytes {
    my ($name, $size, $seed) = @_;
    my $path = $t->dir . "/$name";
    open my $fh, '>:raw', $path or die;
    my $x = $seed;
    my $block = '';
    while (length $block < 65536 + 13) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $block .= chr($x >> 16 & 255);
        $block .= "\r\n--" if $x % 997 == 0;
    }
    my $left = $size;
    while ($left > 0) {
        my $n = $left < length $block ? $left : length $block;
        print $fh substr($block, 0, $n);
        $left -= $n;
        $block = substr($block, 7) . substr($block, 0, 7);
    }
    close $fh;
    return $path;
}

# curl's command line for an upload of a file, multipart or raw
sub curl_args {
    my ($kind, $path, $where, $as) = @_;
    my @body = $kind eq 'multipart' ? ('-F', "file=\@$path;filename=x.bin")
             : ('-H', 'Content-Type: application/octet-stream', '--data-binary', "\@$path");
    return ('curl', '-s', '-w', '\n%{http_code}', @body, "$url/$where/x?take=1&as=$as");
}

sub answer {
    my ($out) = @_;
    my ($body, $code) = $out =~ /\A(.*)\n(\d+)\z/s or return (0, {});
    return ($code, eval { $J->decode($body) } // {});
}

sub upload_file {
    my ($kind, $path, $where, $as) = @_;
    open my $p, '-|', curl_args($kind, $path, $where, $as) or die;
    my $out = do { local $/; <$p> };
    close $p;
    return answer($out);
}

# 64 KiB buffers: empty, one byte, around one buffer, several, many
my @sizes = (0, 1, 65535, 65536, 65537, 3 * 65536 + 100, 1_000_000, 5 * 1024 * 1024 + 7);
for my $i (0 .. $#sizes) {
    my $size = $sizes[$i];
    my $file = write_bytes("in-$i", $size, $i + 1);
    my $want = sha256sum($file);
    for my $kind ('multipart', 'raw') {
        next if $kind eq 'raw' && $size == 0;    # no body is no upload
        my ($code, $ans) = upload_file($kind, $file, 't', "$kind-$i");
        is($code, 201, "$kind, $size bytes: 201");
        is($ans->{file}{size}, $size, "$kind, $size bytes: size");
        is($ans->{file}{sha256}, $want, "$kind, $size bytes: SHA-256 is sha256sum's");
        is(sha256sum("$kept/$kind-$i"), $want, "$kind, $size bytes: the spooled file is the same");
        unlink "$kept/$kind-$i";
    }
}
ok(spool_empty(), 'nothing left in the spool');

# Eight uploads at once into a pool of one thread (tasks wait in its queue,
# the worker waits for its buffers), and into a pool whose queue holds one
# (the others' buffers are hashed in the worker).
my $many = write_bytes('many', 6 * 1024 * 1024 + 5, 99);
my $many_sha = sha256sum($many);
for my $where ('t', 'tiny') {
    my %pipes;
    for my $i (1 .. 8) {
        my $kind = $i % 2 ? 'multipart' : 'raw';
        open my $p, '-|', curl_args($kind, $many, $where, "$where-$i") or die;
        $pipes{$i} = $p;
    }
    my $good = 0;
    for my $i (sort keys %pipes) {
        my $out = do { local $/; readline $pipes{$i} };
        close $pipes{$i};
        my ($code, $ans) = answer($out);
        $good++ if $code == 201 && ($ans->{file}{sha256} // '') eq $many_sha
            && sha256sum("$kept/$where-$i") eq $many_sha;
        unlink "$kept/$where-$i";
    }
    is($good, 8, "8 uploads at once through pool \"$where\": every SHA-256 and file right");
}
my @overflow = grep { /queue overflow/ } split /\n/, $t->read_file('error.log');
note(scalar(@overflow) . ' posts hashed in the worker for a full queue');

# The in-line path (no pool) and the threaded one agree.
my ($code, $ans) = upload_file('multipart', $many, 'inline', 'inline');
is($ans->{file}{sha256}, $many_sha, 'without thread_pool=: the same SHA-256');
unlink "$kept/inline";

($code, $ans) = upload_file('multipart', $many, 'nohash', 'nohash');
is($code, 201, 'sha256=off with a pool: 201');
ok(!defined $ans->{file}{sha256}, 'and no hash');
is(-s "$kept/nohash", 6 * 1024 * 1024 + 5, 'and the whole file');
unlink "$kept/nohash";

# Refusals found after hashes began: answered, nothing left.
my $second = $t->dir . '/second';
{
    open my $fh, '>:raw', $second or die;
    print $fh 'y' x 100;
    close $fh;
}
open my $p, '-|', 'curl', '-s', '-w', '\n%{http_code}', '-F', "file=\@$many", '-F', "file=\@$second",
    "$url/t/x" or die;
($code, $ans) = answer(do { local $/; <$p> });
close $p;
is($code, 422, 'a second file part after 6 MB: 422');
like($ans->{error}, qr/more than one file field/, 'with its JSON error');
ok(spool_empty(), 'nothing left');

my $boundary = 'BoUnDaRy';
my $body = "--$boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
    . ('z' x (2 * 1024 * 1024));
my $r = $t->http(POST => '/t/x', body => $body,
                 headers => { 'Content-Type' => "multipart/form-data; boundary=$boundary" });
is($r->{status}, 400, '2 MB without the closing boundary: 400');
ok(spool_empty(), 'nothing left');

$r = $t->http(POST => '/zip/x', body => 'not a zip' x 100_000,
              headers => { 'Content-Type' => 'application/zip' });
is($r->{status}, 415, 'type=zip with a pool: not a zip, 415');

# Chunked past client_max_body_size: nginx's chunked filter refuses it while
# a hash of the request's may be in flight.
my ($st) = $t->post_chunked('/small/x', ('c' x 65536) x 64);
is($st, 413, 'chunked body past the limit: 413');
ok(spool_empty(), 'nothing left');

# Clients that go away mid-upload (a FIN, or a reset) right after a 4 MB
# piece of theirs went to the pool's one thread, queued behind the 4 MB
# pieces of two running uploads.
my @running;
for my $i (1 .. 2) {
    open my $rp, '-|', curl_args('raw', $many, 'slow', "running-$i") or die;
    push @running, $rp;
}
for my $i (1 .. 6) {
    my $c = $t->connect_nginx;
    print $c "POST /slow/x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
           . "Content-Length: 50000000\r\n\r\n";
    print $c 'g' x (4 * 1024 * 1024 + 100_000 * $i);
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if $i % 2;
    close $c;
}
my $ok = 0;
for my $i (0 .. $#running) {
    my ($c, $ans) = answer(do { local $/; readline $running[$i] });
    close $running[$i];
    $ok++ if $c == 201 && $ans->{file}{sha256} eq $many_sha;
    unlink "$kept/running-" . ($i + 1);
}
is($ok, 2, 'uploads beside the clients that went away: right');
ok(spool_empty(), 'clients gone: nothing left');
my ($worker) = $t->nginx_workers;
ok($worker && kill(0, $worker), 'the worker is still there');
SKIP: {
    skip 'nginx without debug logging', 1 unless `$Ferry::Test::NGINX -V 2>&1` =~ /--with-debug/;
    my @held = grep { /terminate cleanup count:\d+ blk:[1-9]/ } split /\n/, $t->read_file('error.log');
    ok(@held, 'some went away while a piece of theirs was being hashed')
        or diag 'no termination found nginx waiting for a thread';
}
($code, $ans) = upload_file('multipart', $many, 't', 'after');
is($ans->{file}{sha256}, $many_sha, 'and the next upload is right');
unlink "$kept/after";

# 200 MB in 1 MB buffers (two of the module's, one of nginx's): the worker
# does not grow with the upload.
my $warm = write_bytes('warm', 3 * 1024 * 1024, 5);
upload_file('raw', $warm, 'big', 'warm');
unlink "$kept/warm";
my $mb = 200;
my $big = $t->upload_big('/big/x?take=1&as=big', $mb);
is($big->{status}, 201, "$mb MB upload through the pool: 201");
is($J->decode($big->{body})->{file}{sha256}, $big->{sha256}, "$mb MB upload: SHA-256");
cmp_ok($big->{peak} - $big->{before}, '<', 4096, "$mb MB upload: worker RSS grew by less than 4 MB")
    or diag "before $big->{before} kB, peak $big->{peak} kB";
unlink "$kept/big";

# thread_pool=default needs no thread_pool directive (nginx's own default
# pool); any other name must be declared.
for my $case (['default', undef], ['nosuch', qr/unknown thread pool "nosuch"/]) {
    my $conf = $t->write_nginx_conf(
        "upstream ferryd { server unix:%%SOCK%%; }\n"
      . "server { listen 127.0.0.1:%%PORT%%; ferry_spool_path %%DIR%%/spool;\n"
      . " location / { ferry_upload thread_pool=$case->[0]; ferry_pass ferryd; } }\n");
    my ($rc, $out) = $t->nginx_test($conf);
    if ($case->[1]) {
        isnt($rc, 0, "thread_pool=$case->[0], a pool not declared: nginx -t fails");
        like($out, $case->[1], 'naming the pool');
    } else {
        is($rc, 0, "thread_pool=$case->[0]: nginx -t passes") or diag $out;
    }
}

$t->done;
