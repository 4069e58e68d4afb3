#!/usr/bin/perl
# A1: /healthcheck and /health through the module to ferryd and PostgreSQL,
# and what each says when a part is down and after it comes back.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg->migrate;
$t->start_ferryd;
$t->start_nginx(<<'EOF');
    upstream ferryd {
        server unix:%%SOCK%%;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_connect_timeout 1s;
        location = /healthcheck { ferry_pass ferryd; ferry_health; }
        location = /health      { ferry_pass ferryd; ferry_health; }
    }
EOF

for my $path ('/healthcheck', '/health') {
    my $r = $t->http(GET => $path);
    is($r->{status}, 200, "$path is 200 when all is up");
    like($r->{headers}{'content-type'}, qr{^application/json}, "$path answers JSON");
    is_deeply($r->{json}, { status => 'ok', helper => 'up', database => 'up' },
              "$path body names every part up");
}

# ferryd down: the module answers by itself, within the connect timeout.
$t->stop_ferryd;
my $t0 = time;
my $r = $t->http(GET => '/healthcheck');
my $took = time - $t0;
is($r->{status}, 503, 'ferryd stopped: 503');
is($r->{json}{helper}, 'down', 'ferryd stopped: "helper":"down"');
is($r->{json}{status}, 'error', 'ferryd stopped: "status":"error"');
cmp_ok($took, '<', 2, 'answered within the connect timeout');

$t->start_ferryd;
$r = $t->http(GET => '/health');
is($r->{status}, 200, 'ferryd back: 200 again without touching nginx');

# PostgreSQL down: ferryd says so.
$t->stop_pg;
$r = $t->http(GET => '/healthcheck');
is($r->{status}, 503, 'PostgreSQL stopped: 503');
is_deeply($r->{json}, { status => 'error', helper => 'up', database => 'down' },
          'PostgreSQL stopped: "database":"down", helper still up');

$t->start_pg;
my $back;
for (1 .. 50) {
    $r = $t->http(GET => '/healthcheck');
    last if ($back = $r->{status} == 200);
    select undef, undef, undef, 0.1;
}
ok($back, 'PostgreSQL back: health recovers by itself');
is($r->{json}{database}, 'up', 'database up again');

$t->done;
