#!/usr/bin/perl
# Benchmark: requests/s of a ferry_pass round trip to ferryd that does not
# touch PostgreSQL (GET /ping), beside nginx's own `return 200` and
# `proxy_pass` to a trivial local HTTP upstream with keepalive, all measured
# in this run on this machine by wrk. Then /healthcheck (ferryd + SELECT 1).

use strict;
use warnings;
use lib 't/lib';
use Ferry::Test;

my $dur = $ENV{BENCH_SECONDS} || 8;
my $conns = $ENV{BENCH_CONNECTIONS} || 64;

my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
$t->start_pg->migrate;
$t->start_ferryd(LOG_LEVEL => 'info');
my $up = Ferry::Test::free_port();
$t->start_nginx(<<"EOF");
    access_log off;
    upstream ferryd {
        server unix:%%SOCK%%;
        keepalive 64;
    }
    upstream trivial {
        server 127.0.0.1:$up;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$up;
        access_log off;
        location / { default_type application/json; return 200 '{"pong":true}'; }
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /return { default_type application/json; return 200 '{"pong":true}'; }
        location = /proxy {
            proxy_pass http://trivial;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /ping { ferry_pass ferryd; }
        location = /healthcheck { ferry_pass ferryd; ferry_health; }
    }
EOF
$t->{procs}{nginx} or die;

sub wrk {
    my ($path) = @_;
    my $url = 'http://127.0.0.1:' . $t->port . $path;
    my $check = $t->http(GET => $path);
    die "$path answered $check->{status}\n" unless $check->{status} == 200;
    system("wrk -t2 -c$conns -d2s $url >/dev/null 2>&1");    # warm-up
    my $out = `wrk -t2 -c$conns -d${dur}s $url 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk: $out";
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "$path: $non2xx non-2xx responses\n" if $non2xx;
    return $rps;
}

my %r;
$r{$_} = wrk("/$_") for qw(return proxy ping healthcheck);

printf "\n%-44s %12s %10s %10s\n", 'health: requests/s (wrk, ' . $conns . ' conns, ' . $dur . ' s)',
    'req/s', 'vs return', 'vs proxy';
for (['nginx return 200 (baseline)', 'return'],
     ['nginx proxy_pass keepalive (baseline)', 'proxy'],
     ['ferry_pass -> ferryd GET /ping', 'ping'],
     ['ferry_pass -> ferryd /healthcheck (SELECT 1)', 'healthcheck']) {
    my ($label, $k) = @$_;
    printf "%-44s %12.0f %9.2fx %9.2fx\n", $label, $r{$k}, $r{$k} / $r{return}, $r{$k} / $r{proxy};
}
printf "\nferry_pass /ping vs proxy_pass: %.2fx (target >= 0.50x)\n", $r{ping} / $r{proxy};

$t->teardown;
