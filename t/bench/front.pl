#!/usr/bin/perl
# Benchmark: what the front line costs per request, measured by wrk in this
# run: (1) a static file behind ferry_auth jwt against the same location
# without auth; (2) an idempotent replay served from the nginx zone (the
# body read, fingerprinted and the stored answer sent) against nginx's own
# `return 200`.

use strict;
use warnings;
use lib 't/lib';
use Ferry::Test;

my $dur = $ENV{BENCH_SECONDS} || 8;
my $conns = $ENV{BENCH_CONNECTIONS} || 64;

my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
$t->write_file('static/hello.json', qq({"hello":"world"}\n));
my $secret = $t->jwt_secret;

$t->start_fake_ferryd(sub { Ferry::Test::response_frame(201, '{"id":"job-1","status":"pending"}') });
$t->start_nginx(<<'EOF');
    access_log off;
    ferry_zone idem:10m;
    upstream ferryd { server unix:%%SOCK%%; keepalive 16; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        location = /return { default_type application/json; return 200 '{"id":"job-1","status":"pending"}'; }
        location /static/ { root %%DIR%%; }
        location /auth/static/ { ferry_auth jwt; alias %%DIR%%/static/; }
        location = /idem { ferry_auth jwt; ferry_idempotency required; ferry_pass ferryd; }
    }
EOF

my $token = Ferry::Test::jwt($secret, { sub => 'bench-user', exp => time + 3600 });
my $body = '{"mode":"insert_only","rows":[1,2,3]}';
my $auth = "Authorization: Bearer $token";

# the first request makes the answer the replays are served from
my $first = $t->http(POST => '/idem', body => $body,
                     headers => { Authorization => "Bearer $token", 'Idempotency-Key' => 'bench',
                                  'Content-Type' => 'application/json' });
die "first request: $first->{status}\n" unless $first->{status} == 201;

my $lua = $t->write_file('post.lua', <<"EOF");
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "bench"
wrk.headers["Authorization"] = "Bearer $token"
EOF

sub wrk {
    my ($path, @args) = @_;
    my $url = 'http://127.0.0.1:' . $t->port . $path;
    system("wrk -t2 -c$conns -d2s @args '$url' >/dev/null 2>&1");    # warm-up
    my $out = `wrk -t2 -c$conns -d${dur}s @args '$url' 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk: $out";
    my ($bad) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "$path: $bad non-2xx responses\n" if $bad;
    return $rps;
}

my %r;
$r{static} = wrk('/static/hello.json');
$r{jwt} = wrk('/auth/static/hello.json', '-H', "'$auth'");
$r{return} = wrk('/return');
$r{replay} = wrk('/idem', '-s', $lua);

printf "\nfront line: requests/s (wrk, %d conns, %d s)                    req/s   vs base\n", $conns, $dur;
printf "%-60s %8.0f %8.2fx\n", 'static file (baseline)', $r{static}, 1;
printf "%-60s %8.0f %8.2fx  (target >= 0.90x)\n", 'the same behind ferry_auth jwt', $r{jwt}, $r{jwt} / $r{static};
printf "%-60s %8.0f %8.2fx\n", 'nginx return 200 (baseline)', $r{return}, 1;
printf "%-60s %8.0f %8.2fx  (target >= 0.70x)\n", 'idempotent replay from ferry_zone (POST, JWT, body hashed)',
    $r{replay}, $r{replay} / $r{return};

$t->teardown;
