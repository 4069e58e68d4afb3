#!/usr/bin/perl
# Benchmark: a 1 GiB multipart upload through ferry_upload (SHA-256 off, on
# in the worker, on in a thread pool) against nginx's own body-to-file path
# (a WebDAV PUT, which reads the body into client_body_temp_path and renames
# it) with the same bytes and the same buffer size, all in this run; and the
# nginx worker's memory growth.

use strict;
use warnings;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Ferry::Test;

my $mb = $ENV{BENCH_UPLOAD_MB} || 1024;
my $runs = $ENV{BENCH_RUNS} || 7;

# Everything (the file sent, nginx's body temp files, the spool) on tmpfs
# when there is one: the figures are then the CPU cost of each path, not
# the luck of the disk's write-back.
$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';

my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
$t->{nginx_main} = 'thread_pool ferry threads=1;';
my $spool = $t->writable_dir('spool');
my $dav = $t->writable_dir('dav');

# ferryd's part is one small answer per upload: a stand-in is enough here.
$t->start_fake_ferryd(sub { Ferry::Test::response_frame(201, '{"ok":true}') });
$t->start_nginx(<<'EOF');
    access_log off;
    upstream ferryd { server unix:%%SOCK%%; }
    client_max_body_size 4g;
    client_body_buffer_size 1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_spool_path %%DIR%%/spool;
        location /dav/ { root %%DIR%%; dav_methods PUT; client_body_in_file_only on; }
        location = /up-nosha { ferry_upload sha256=off; ferry_pass ferryd; }
        location = /up-sha { ferry_upload; ferry_pass ferryd; }
        location = /up-thr { ferry_upload thread_pool=ferry; ferry_pass ferryd; }
    }
EOF

# CSV-like bytes (a newline every ~40 bytes, as an import has), in a file.
my $file = $t->dir . '/big.csv';
open my $fh, '>', $file or die;
my $block = join '', map { sprintf "user%07d\@example.com,First,Last,+10000%05d,City\n", $_, $_ } 1 .. 16384;
my $need = $mb * 1024 * 1024;
my $written = 0;
while ($written < $need) {
    my $n = $need - $written < length $block ? $need - $written : length $block;
    print $fh substr($block, 0, $n);
    $written += $n;
}
close $fh;
system("cat $file > /dev/null");    # into the page cache

my ($worker) = $t->nginx_workers;
sub kb { my ($what) = @_; (`grep $what /proc/$worker/status` =~ /(\d+)/)[0] }

my $url = 'http://127.0.0.1:' . $t->port;

sub run_curl {
    my (@args) = @_;
    my $out = `curl -s -o /dev/null -w '%{http_code} %{time_total}' @args`;
    my ($code, $secs) = split ' ', $out;
    die "curl @args: $out\n" unless $code =~ /^20[0-9]$/;
    return $secs;
}

# warm up every path with a small file, so that what grows later grows with
# the upload size, not with the first use of a buffer
my $small = $t->write_file('small.csv', $block);
run_curl('-T', $small, "$url/dav/small.csv");
run_curl('-F', "file=\@$small", "$url/up-nosha");
run_curl('-F', "file=\@$small", "$url/up-sha");
run_curl('-F', "file=\@$small", "$url/up-thr");
my $hwm0 = kb('VmHWM');
my (%best, %all);
for (1 .. $runs) {
    my (%s, %c);
    # each measured upload follows an unmeasured one of the same kind: the
    # first upload after a pause is slow on a shared VM whatever the path
    for my $k (qw(dav raw nosha sha thr)) {
        my @args = $k eq 'dav' ? ('-T', $file, "$url/dav/x.csv")
                 : $k eq 'raw' ? ('-T', $file, "$url/up-nosha")
                 :               ('-F', "file=\@$file", "$url/up-$k");
        run_curl(@args);
        $s{$k} = run_curl(@args);
    }
    push @{ $all{$_} }, $s{$_} for keys %s;
    unlink "$dav/x.csv";
    for (keys %s) { $best{$_} = $s{$_} if !$best{$_} || $s{$_} < $best{$_} }
}
my $hwm = kb('VmHWM');

# SHA-256's own speed on this machine, in the same run (1 MiB blocks, as
# ferry_upload hashes them)
my $sha = `openssl speed -evp sha256 -bytes 1048576 -seconds 2 2>/dev/null | tail -1`;
my ($shak) = $sha =~ /([\d.]+)k\s*$/;
my $sha_mbs = $shak ? $shak * 1000 / (1024 * 1024) : 0;

# On a shared VM the kernel's page allocation for the written file varies
# several-fold from one upload to the next whatever the path; the best of
# several alternating runs is the cost of the path itself, the median says
# how noisy the machine was.
my %mbs = map { $_ => $mb / $best{$_} } keys %best;
my %med = map { my @v = sort { $a <=> $b } @{ $all{$_} }; $_ => $mb / $v[$#v / 2] } keys %all;
# the serial bound: nginx's copy, then a hash of every byte, one after the
# other on one core
my %bound = map { my $m = $_; $m => $sha_mbs ? 1 / (1 / $m + 1 / $sha_mbs) : 0 } ($mbs{dav}, $med{dav});
printf "\nupload: %d MiB, %d alternating runs, client_body_buffer_size 1m, files in %s\n", $mb,
    $runs, $ENV{TMPDIR} // '/tmp';
printf "%-52s %9s %8s %11s %8s\n", '', 'best MB/s', 'vs base', 'median MB/s', 'vs base';
for (['nginx body -> file (WebDAV PUT, in_file_only)', 'dav', ''],
     ['ferry_upload raw body (PUT, as the baseline), sha256=off', 'raw', ''],
     ['ferry_upload multipart, sha256=off', 'nosha', '  (target >= 0.90x)'],
     ['ferry_upload multipart, sha256=on, in the worker', 'sha', ''],
     ['ferry_upload multipart, sha256=on thread_pool=', 'thr', '  (target >= 0.50x)']) {
    my ($label, $k, $target) = @$_;
    printf "%-52s %9.0f %7.2fx %11.0f %7.2fx%s\n", $label, $mbs{$k}, $mbs{$k} / $mbs{dav},
        $med{$k}, $med{$k} / $med{dav}, $target;
}
if ($sha_mbs) {
    printf "%-52s %9.0f %7.2fx %11.0f %7.2fx\n", 'serial bound: nginx copy, then SHA-256 of it',
        $bound{ $mbs{dav} }, $bound{ $mbs{dav} } / $mbs{dav}, $bound{ $med{dav} }, $bound{ $med{dav} } / $med{dav};
    printf "ferry_upload sha256=on vs the serial bound: in the worker %.2fx best, %.2fx median;"
        . " thread_pool= %.2fx, %.2fx (target >= 0.80x)\n",
        $mbs{sha} / $bound{ $mbs{dav} }, $med{sha} / $bound{ $med{dav} },
        $mbs{thr} / $bound{ $mbs{dav} }, $med{thr} / $bound{ $med{dav} };
    printf "openssl speed -evp sha256 (1 MiB blocks, this run): %.0f MB/s\n", $sha_mbs;
}
printf "nginx worker peak RSS growth over %d uploads of %d MiB: %.1f MB (target < 4 MB)\n",
    10 * $runs, $mb, ($hwm - $hwm0) / 1024;
print "every run (seconds):\n";
printf "  %-6s %s\n", $_, join(' ', @{ $all{$_} }) for sort keys %all;

unlink $file;
$t->teardown;
