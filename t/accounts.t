#!/usr/bin/perl
# A3 accounts end to end through nginx: register, log in, use the token on a
# ferry_auth location; validation errors name the field; a wrong password
# and an unknown email look the same; a token outlives neither its expiry
# nor its user.

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
    upstream ferryd { server unix:%%SOCK%%; keepalive 4; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        location = /auth/register { ferry_pass ferryd; }
        location = /auth/token { ferry_pass ferryd; }
        location = /auth/me { ferry_auth jwt; ferry_pass ferryd; }
    }
EOF

my $r = $t->http(POST => '/auth/register', json => { email => ' Ann@Example.COM ', password => 'correct horse' });
is($r->{status}, 201, 'register: 201');
like($r->{json}{id}, qr/^[0-9a-f-]{36}$/, 'register: an id');
is($r->{json}{email}, 'Ann@example.com', 'email trimmed, domain lower-cased');
my $id = $r->{json}{id};

is($t->psql("SELECT password_hash LIKE '\$y\$%' FROM users WHERE id = '$id'"), 't',
   'the password is stored as a yescrypt hash');
is($t->psql("SELECT count(*) FROM users WHERE password_hash LIKE '%correct horse%'"), 0,
   'and never in clear');

$r = $t->http(POST => '/auth/register', json => { email => 'Ann@EXAMPLE.com', password => 'another one' });
is($r->{status}, 409, 'the same email again: 409');
is($r->{json}{field}, 'email', '409 names the field');

for my $case (
    [{ password => 'long enough' }, 'email', 'missing email'],
    [{ email => 'not-an-email', password => 'long enough' }, 'email', 'bad email'],
    [{ email => 'a@b', password => 'long enough' }, 'email', 'email without a dot in the domain'],
    [{ email => 'b@example.com' }, 'password', 'missing password'],
    [{ email => 'b@example.com', password => 'short' }, 'password', 'password under 8'],
    [{ email => 'b@example.com', password => 12345678 }, 'password', 'password not a string'],
) {
    my ($body, $field, $name) = @$case;
    $r = $t->http(POST => '/auth/register', json => $body);
    is($r->{status}, 422, "$name: 422");
    is($r->{json}{field}, $field, "$name: names $field");
}
$r = $t->http(POST => '/auth/register', body => '{"email": "x@y.z", ',
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 422, 'malformed JSON: 422');
like($r->{json}{error}, qr/JSON/, 'malformed JSON: says so');
$r = $t->http(POST => '/auth/register', json => ['a', 'b']);
is($r->{status}, 422, 'not an object: 422');

$r = $t->http(POST => '/auth/token', json => { email => 'Ann@EXAMPLE.com ', password => 'correct horse' });
is($r->{status}, 200, 'token: 200');
is($r->{json}{token_type}, 'bearer', 'token_type bearer');
is($r->{json}{expires_in}, 3600, 'expires_in');
my $token = $r->{json}{access_token};
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWT');

$r = $t->http(GET => '/auth/me', headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'the token opens a ferry_auth location');
is_deeply($r->{json}, { id => $id, email => 'Ann@example.com' }, 'ferryd sees the user');

my ($wrong, $unknown);
my %time = (wrong => 0, unknown => 0);
for (1 .. 3) {
    my $t0 = time;
    $wrong = $t->http(POST => '/auth/token', json => { email => 'Ann@example.com', password => 'wrong horse' });
    $time{wrong} += time - $t0;
    $t0 = time;
    $unknown = $t->http(POST => '/auth/token', json => { email => 'nobody@example.com', password => 'wrong horse' });
    $time{unknown} += time - $t0;
}
is($wrong->{status}, 401, 'wrong password: 401');
is($unknown->{status}, 401, 'unknown email: 401');
is_deeply($wrong->{json}, $unknown->{json}, 'the same message for both');
my $ratio = $time{unknown} / ($time{wrong} || 1e-9);
ok($ratio > 0.33 && $ratio < 3, 'and similar timing (a dummy hash for unknown emails)')
    or diag sprintf 'wrong %.3f s, unknown %.3f s', $time{wrong}, $time{unknown};

my $secret = $t->jwt_secret;
my $expired = Ferry::Test::jwt($secret, { sub => $id, exp => int(time) - 3600 });
is($t->http(GET => '/auth/me', headers => { Authorization => "Bearer $expired" })->{status},
   401, 'an expired token: 401');
(my $tampered = $token) =~ s/\.(.)/'.' . ($1 eq 'A' ? 'B' : 'A')/e;
is($t->http(GET => '/auth/me', headers => { Authorization => "Bearer $tampered" })->{status},
   401, 'a tampered token: 401');

$t->psql("DELETE FROM users WHERE id = '$id'");
$r = $t->http(GET => '/auth/me', headers => { Authorization => "Bearer $token" });
is($r->{status}, 401, 'a valid token for a deleted user: 401 from ferryd');
is($r->{json}{error}, 'unknown user', 'saying so');

like($t->read_file('ferryd.log'), qr/INFO .*registered user \Q$id\E/, 'registration logged at INFO');
unlike($t->read_file('ferryd.log'), qr/correct horse/, 'no password in the log');

$t->done;
