#!/usr/bin/perl
# ferry_auth jwt in the module: bearer tokens checked in the access phase in
# front of ferry_pass and of a plain static location; every way a token can
# be wrong gets 401 with an RFC 6750 challenge; $ferry_user and the frame's
# "user" carry the subject.

use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64url);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $secret = 'a-test-secret-that-is-long-enough-0123456789';
$t->write_file('jwt.secret', "$secret\n");
$t->write_file('short.secret', "short\n");
$t->write_file('static/hello.txt', "hello\n");

$t->start_fake_ferryd(sub {
    my ($payload) = @_;
    return Ferry::Test::response_frame(200, $J->encode({ frame => $J->decode($payload) }));
});

$t->start_nginx(<<'EOF');
    upstream ferryd { server unix:%%SOCK%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        location /api/ { ferry_auth jwt; ferry_pass ferryd; }
        location /open/ { ferry_pass ferryd; }
        location /static/ {
            ferry_auth jwt;
            root %%DIR%%;
            add_header X-User $ferry_user always;
        }
        location /strict/ {
            ferry_auth jwt;
            ferry_jwt_leeway 0;
            ferry_jwt_issuer ferry;
            ferry_jwt_audience api;
            ferry_pass ferryd;
        }
        location /public/ {
            ferry_auth jwt;
            location /public/in/ { ferry_auth off; ferry_pass ferryd; }
        }
    }
EOF

my $now = time;
my $good = Ferry::Test::jwt($secret, { sub => 'u-42', exp => $now + 600 });
my $auth = sub { { Authorization => "Bearer $_[0]" } };

my $r = $t->http(GET => '/api/x');
is($r->{status}, 401, 'no token: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer', 'no token: a bare Bearer challenge');
is_deeply($r->{json}, { error => 'bearer token required' }, 'no token: JSON error');

$r = $t->http(GET => '/api/x', headers => { Authorization => 'Basic dXNlcjpwYXNz' });
is($r->{status}, 401, 'Basic credentials: 401');

$r = $t->http(GET => '/api/x?a=1', headers => $auth->($good));
is($r->{status}, 200, 'valid token: 200');
is($r->{json}{frame}{user}, 'u-42', 'the frame carries the subject as "user"');

$r = $t->http(GET => '/api/x', headers => { Authorization => "bearer  $good" });
is($r->{status}, 200, 'scheme is case-insensitive, extra spaces allowed');

$r = $t->http(GET => '/open/x');
is($r->{status}, 200, 'a location without ferry_auth needs no token');
ok(!defined $r->{json}{frame}{user}, 'and its frame has "user": null');

$r = $t->http(GET => '/static/hello.txt', headers => $auth->($good));
is($r->{status}, 200, 'in front of static files too');
is($r->{headers}{'x-user'}, 'u-42', '$ferry_user holds the subject');
is($t->http(GET => '/static/hello.txt')->{status}, 401, 'static without a token: 401');

$r = $t->http(GET => '/public/in/x');
is($r->{status}, 200, 'ferry_auth off in a nested location');

my @p = split /\./, $good;
$p[1] = encode_base64url($J->encode({ sub => 'admin', exp => $now + 600 }));
my %bad = (
    'expired' => Ferry::Test::jwt($secret, { sub => 'u', exp => $now - 120 }),
    'not yet valid' => Ferry::Test::jwt($secret, { sub => 'u', exp => $now + 600, nbf => $now + 300 }),
    'tampered payload' => join('.', @p),
    'wrong key' => Ferry::Test::jwt($secret, { sub => 'u', exp => $now + 600 }, key => 'x' x 40),
    'alg none' => Ferry::Test::jwt($secret, { sub => 'u', exp => $now + 600 },
                                   header => { alg => 'none' }, sig => ''),
    'RS256 with the HMAC key' => Ferry::Test::jwt($secret, { sub => 'u', exp => $now + 600 },
                                                  header => { alg => 'RS256', typ => 'JWT' }),
    'malformed base64' => 'eyJhbGciOiJIUzI1NiJ9.***.abc',
    'two segments' => 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0',
    'oversize' => 'a' x 5000,
    'no exp' => Ferry::Test::jwt($secret, { sub => 'u' }),
    'no sub' => Ferry::Test::jwt($secret, { exp => $now + 600 }),
    # issue 10: what one parser reads one way and another parser another
    'alg twice, the second none' => Ferry::Test::jwt($secret,
        '{"sub":"u","exp":' . ($now + 600) . '}', header => '{"alg":"HS256","alg":"none"}'),
    'sub twice' => Ferry::Test::jwt($secret,
        '{"sub":"u","sub":"admin","exp":' . ($now + 600) . '}'),
    'nbf 1e300' => Ferry::Test::jwt($secret, '{"sub":"u","exp":' . ($now + 600) . ',"nbf":1e300}'),
    'exp not whole' => Ferry::Test::jwt($secret, '{"sub":"u","exp":' . ($now + 600) . '.5}'),
    'sub with a NUL' => Ferry::Test::jwt($secret, '{"sub":"admin\\u0000x","exp":' . ($now + 600) . '}'),
);
for my $name (sort keys %bad) {
    $r = $t->http(GET => '/api/x', headers => $auth->($bad{$name}));
    is($r->{status}, 401, "$name: 401");
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer error="invalid_token"/,
         "$name: invalid_token challenge");
    is($r->{json}{error}, 'invalid token', "$name: JSON error");
}
like($t->http(GET => '/api/x', headers => $auth->($bad{expired}))->{headers}{'www-authenticate'},
     qr/error_description="token expired"/, 'the challenge says why');

# Leeway: 10 s past exp passes with the default 30 s, not with 0.
my $late = Ferry::Test::jwt($secret, { sub => 'u', exp => $now - 10, iss => 'ferry', aud => 'api' });
is($t->http(GET => '/api/x', headers => $auth->($late))->{status}, 200, 'within the default leeway');
is($t->http(GET => '/strict/x', headers => $auth->($late))->{status}, 401, 'ferry_jwt_leeway 0');

my $strict = sub { Ferry::Test::jwt($secret, { sub => 'u', exp => $now + 600, @_ }) };
is($t->http(GET => '/strict/x', headers => $auth->($strict->(iss => 'ferry', aud => ['web', 'api'])))->{status},
   200, 'issuer and audience match');
is($t->http(GET => '/strict/x', headers => $auth->($strict->(iss => 'other', aud => 'api')))->{status},
   401, 'wrong issuer: 401');
is($t->http(GET => '/strict/x', headers => $auth->($strict->(iss => 'ferry')))->{status},
   401, 'missing audience: 401');

# A token verified once is remembered by the worker, but not past its exp.
my $brief = $strict->(iss => 'ferry', aud => 'api', exp => time + 2);
is($t->http(GET => '/strict/x', headers => $auth->($brief))->{status}, 200, 'a token about to expire: 200');
is($t->http(GET => '/strict/x', headers => $auth->($brief))->{status}, 200, 'again (remembered)');
sleep 3;
$r = $t->http(GET => '/strict/x', headers => $auth->($brief));
is($r->{status}, 401, 'once expired, the remembered token is refused');
like($r->{headers}{'www-authenticate'}, qr/token expired/, 'as expired');

like($t->read_file('error.log'), qr/\[info\].*bearer token rejected: token expired/,
     'rejections are logged at info with the reason');

# Configuration errors stop nginx -t.
for my $case (['short.secret', qr/shorter than 32/], ['missing.secret', qr/missing\.secret/]) {
    my $conf = $t->write_nginx_conf(
        "server { listen 127.0.0.1:%%PORT%%; ferry_jwt_secret_file %%DIR%%/$case->[0];\n"
      . " location / { ferry_auth jwt; } }\n");
    my ($rc, $out) = $t->nginx_test($conf);
    isnt($rc, 0, "nginx -t fails with $case->[0]");
    like($out, $case->[1], 'naming the problem');
}
my $conf = $t->write_nginx_conf("server { listen 127.0.0.1:%%PORT%%; location / { ferry_auth jwt; } }\n");
my ($rc, $out) = $t->nginx_test($conf);
like($out, qr/needs "ferry_jwt_secret_file"/, 'ferry_auth jwt without a secret: nginx -t says so');

$t->done;
