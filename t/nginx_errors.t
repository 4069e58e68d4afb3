#!/usr/bin/perl
# Requests nginx refuses by itself, before any location (issue 10): with
# conf/ferry-errors.conf at server level they get JSON, not nginx's HTML
# page; a missing or bad token still gets 401 JSON with WWW-Authenticate.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg->migrate;
$t->start_ferryd;
my $spool = $t->writable_dir('spool');
$t->start_nginx(<<'EOF');
    upstream ferryd { server unix:%%SOCK%%; keepalive 4; }
    ferry_zone idem:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        ferry_spool_path %%DIR%%/spool;
        include %%ROOT%%/conf/ferry-errors.conf;
        location = /auth/me { ferry_auth jwt; ferry_pass ferryd; }
        location = /imports {
            ferry_auth jwt;
            ferry_idempotency required;
            ferry_upload field=file;
            ferry_pass ferryd;
        }
    }
EOF

# one raw exchange; returns (status, headers, body)
sub raw {
    my ($req) = @_;
    my $s = $t->connect_nginx;
    print $s $req;
    my $res = do { local $/; <$s> } // '';
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $head // '', $body // '');
}

my $token = 'x' x 20000;
for my $case (
    ['a 20 KB Authorization header', 400,
     "GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\nConnection: close\r\n\r\n"],
    ['two Authorization headers', 400,
     "GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n"
     . "Connection: close\r\n\r\n"],
    ['Content-Length with Transfer-Encoding', 400,
     "POST /auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
     . "Connection: close\r\n\r\n0\r\n\r\n"],
    ['two Content-Length headers', 400,
     "POST /auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
     . "Connection: close\r\n\r\nab"],
    ['a Content-Length that is no number', 400,
     "POST /auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\nConnection: close\r\n\r\nab"],
    ['a 10 KB URI', 414,
     'GET /auth/me?' . ('q' x 10240) . " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
    ['a malformed request line', 400, "GET\r\n\r\n"],
    ['an unknown transfer encoding', 501,
     "POST /auth/me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"],
) {
    my ($name, $want, $req) = @$case;
    my ($status, $head, $body) = raw($req);
    is($status, $want, "$name: $want");
    like($head, qr{^Content-Type: application/json}mi, "$name: JSON");
    my $json = eval { Ferry::Test::json()->decode($body) };
    ok($json && $json->{error}, "$name: with an error message")
        or diag $body;
}

my ($status, $head, $body) = raw("GET /auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($status, 401, 'no token: 401');
like($head, qr{^WWW-Authenticate: Bearer}mi, 'with WWW-Authenticate');
like($head, qr{^Content-Type: application/json}mi, 'and JSON');

# the module's own 400s keep their messages under the server's error_page
my $jwt = Ferry::Test::jwt($t->jwt_secret, { sub => 'u1', exp => time + 600 });
($status, $head, $body) = raw("POST /imports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    . "Authorization: Bearer $jwt\r\nContent-Length: 0\r\n\r\n");
is($status, 400, 'a ferry location\'s own 400 (no Idempotency-Key)');
like($body, qr/Idempotency-Key header is required/, 'keeps its own message, not the server\'s page');

$t->done;
